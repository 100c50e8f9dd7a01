#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: install the project, run the GPU tests, then the benchmark on cuda.
#   ./scripts/gpu_check.sh          (about 3 minutes after the install on one H100/H200-class GPU)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" dev
cd "$root"
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name())"
.venv/bin/python -m pytest -q -p no:cacheprovider -m gpu tests
.venv/bin/python scripts/benchmark.py --device cuda --steps 1500 200 50 --repeats 3
