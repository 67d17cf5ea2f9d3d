# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
# Both create the Python 3.10 virtual environment first when it is missing.
PY310 ?= $(shell test -x /root/.pyenv/versions/3.10.13/bin/python3.10 && echo /root/.pyenv/versions/3.10.13/bin/python3.10 || command -v python3.10)
VENV  ?= .venv
PY    := $(VENV)/bin/python
OUT   ?= runs/demo

.PHONY: venv demo test bench clean

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -n "$(PY310)" || { echo "Python 3.10 not found: lava-nc 0.10 needs it (set PY310=/path/to/python3.10)"; exit 1; }
	$(PY310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Main job: train tiny DS2TA on the built-in digits data, export to Loihi-2 NIR, simulate in Lava, report.
demo: venv
	$(VENV)/bin/ds2ta demo --out $(OUT)

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/train_digits.py

clean:
	rm -rf $(VENV) runs
