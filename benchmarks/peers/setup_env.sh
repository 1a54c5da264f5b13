#!/usr/bin/env bash
# Creates the separate virtual environment of the peer models (benchmarks/runs/peers-venv, ignored by git).
#
#   bash benchmarks/peers/setup_env.sh [VENV_DIR]
#
# The peers are benchmark-only dependencies: none of them is a dependency of timeautodiff_hf, and SDV in particular
# is under the Business Source License, which forbids shipping it with (or inside) this project. They live in their
# own venv because they pin pandas/numpy ranges of their own. torch is installed FIRST (CPU build) so that no peer
# drags a CUDA build in; the script stops if torch is not a CPU build afterwards. A peer that fails to install is
# reported and skipped (run_peers.py then records it as unavailable).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${1:-$HERE/../runs/peers-venv}"
PYTHON="${PYTHON:-python3.11}"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" || exit 1
PIP=("$VENV/bin/python" -m pip install --quiet)
"${PIP[@]}" --upgrade pip wheel setuptools >/dev/null

# 1. torch (CPU) first; --index-url is not forced so a local CPU wheel or the CPU index configured for pip is used.
"${PIP[@]}" "torch>=2.4,<2.14" || exit 1
check_torch() {
    "$VENV/bin/python" - <<'PY'
import sys
import torch
version = torch.__version__
print("torch", version, "cuda build:", torch.version.cuda)
sys.exit(0 if torch.version.cuda is None else 1)
PY
}
check_torch || { echo "torch is a CUDA build; refusing to continue" >&2; exit 1; }
TORCH_PIN="torch==$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"

failed=()
install() {  # install NAME ARGS...: pip install with torch held at the CPU build already present
    local name="$1"
    shift
    echo "== $name"
    if ! "${PIP[@]}" "$TORCH_PIN" "$@"; then
        echo "!! $name failed to install" >&2
        failed+=("$name")
    fi
}

# 2. the peers
install statsforecast "statsforecast>=1.7" pyarrow
install sdv "sdv>=1.10"
install pypots "pypots>=0.8"
# gretel-synthetics pins old pandas/numpy/tensorflow ranges in its metadata; its PyTorch DGAN needs only these:
install gretel-synthetics-deps category-encoders scipy scikit-learn pandas numpy
install gretel-synthetics --no-deps gretel-synthetics
check_torch || { echo "a peer replaced torch with a CUDA build" >&2; exit 1; }

# 3. import checks (what run_peers.py uses)
"$VENV/bin/python" - <<'PY'
import importlib
for module in (
    "statsforecast.models",
    "sdv.sequential",
    "pypots.imputation",
    "gretel_synthetics.timeseries_dgan.dgan",
):
    try:
        importlib.import_module(module)
        print("import ok:", module)
    except Exception as error:  # noqa: BLE001 - report and go on
        print(f"import FAILED: {module}: {type(error).__name__}: {error}")
PY
"$VENV/bin/python" -m pip freeze > "$VENV/peers-freeze.txt"
if [ ${#failed[@]} -gt 0 ]; then
    echo "peers that failed to install: ${failed[*]}" >&2
fi
echo "venv ready: $VENV"
