# Sourced by the benchmark scripts that run on a bare GPU machine (Python 3.12 + torch preinstalled,
# no lava, no internet): nir from wheels in .whl/ and this package without its dependencies, when
# `import ds2ta.export, nir` fails. Expects PY (python) to be set.
if ! $PY -c "import ds2ta.export, nir" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
  $PY -m pip install -q --no-deps --no-build-isolation --ignore-requires-python -e . >/dev/null
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
stamp() { echo "== $(date +%T) $*"; }
