# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
# Both create the Python 3.10 virtual environment first when it is missing.
# Python 3.10 (lava-nc 0.10 runs only there): the first that runs of `python3.10` on PATH, then any
# 3.10 under a pyenv root (`pyenv root` when pyenv is installed, $PYENV_ROOT, ~/.pyenv).
# Override with `make PY310=<path of a python3.10>`.
ifeq ($(origin PY310),undefined)
PYENV_ROOTS  := $(shell command -v pyenv >/dev/null 2>&1 && pyenv root) $(PYENV_ROOT) $(HOME)/.pyenv
PY310_FOUND  := $(shell command -v python3.10) $(foreach r,$(PYENV_ROOTS),$(wildcard $(r)/versions/3.10*/bin/python3.10))
PY310        := $(firstword $(foreach p,$(PY310_FOUND),$(shell "$(p)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1 && echo $(p))))
endif
VENV  ?= .venv
PY    := $(VENV)/bin/python
OUT   ?= runs/demo

.PHONY: venv demo test bench clean

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -n "$(PY310)" || { echo "Python 3.10 not found: lava-nc 0.10 needs it (give it with make PY310=<path of a python3.10>)"; exit 1; }
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
