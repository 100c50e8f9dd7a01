#!/usr/bin/env bash
# Trains: sets up .venv on first use, then `litgd fit` with configs/random_relu.yaml unless --config is given.
#   ./scripts/fit.sh [LIGHTNINGCLI FLAGS]      e.g. --config configs/regression.yaml --trainer.max_steps 100
# Runs land in lightning_logs/ at the repo root unless --trainer.default_root_dir says otherwise.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"

defaults=(--trainer.default_root_dir "$root")
case " $* " in
  *" --config "* | *" --config="* | *" -c "*) ;;
  *) defaults+=(--config "$root/configs/random_relu.yaml") ;;
esac
exec "$root/.venv/bin/litgd" fit "${defaults[@]}" "$@"
