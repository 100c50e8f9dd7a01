#!/usr/bin/env bash
# Creates .venv at the repo root on first use and installs the project into it (editable).
#   scripts/setup.sh [EXTRA]     e.g. `scripts/setup.sh dev` for the test tools
# torch goes in first, chosen for this machine: PyPI's Linux wheel is a CUDA build of several GB, which
# a machine without an NVIDIA GPU does not need, so there we take PyTorch's CPU build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
extra=${1:-}
torch_version=${TORCH_VERSION:-2.13.0}
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing torch $torch_version with CUDA" >&2
    "${pip[@]}" "torch==$torch_version"
  elif "$venv/bin/python" -c "import urllib.request as u; u.urlopen('$cpu_index/', timeout=5)" 2>/dev/null; then
    echo "setup: no NVIDIA GPU, installing torch $torch_version (CPU build)" >&2
    "${pip[@]}" "torch==$torch_version" --extra-index-url "$cpu_index"
  else
    # Offline from PyTorch's index: pip's own configuration (e.g. a local wheel directory) decides.
    echo "setup: no NVIDIA GPU and $cpu_index unreachable, installing torch $torch_version as pip is configured" >&2
    "${pip[@]}" "torch==$torch_version"
  fi
fi

# Reinstall the project only when its metadata changed since the last install (a stamp per extra).
stamp="$venv/.litgd-installed${extra:+-$extra}"
if [ ! -e "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  "${pip[@]}" -e "$root${extra:+[$extra]}"
  touch "$stamp" "$venv/.litgd-installed"  # an install with extras is also the plain install
fi
