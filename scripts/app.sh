#!/usr/bin/env bash
# One command: set everything up, then start the dashboard on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The warm worker (torch imported, forks each training run) starts with the server rather than at the first
# page view, so that even the first Start is fast; it serves until this process (then streamlit) ends.
if [ "${GAN_WARM_WORKER:-1}" != 0 ]; then
  .venv/bin/python -m gan_core.jobs.worker --for-server $$ || true
fi
exec .venv/bin/python -m streamlit run app.py "$@"
