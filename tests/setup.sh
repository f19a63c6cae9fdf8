#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine, into the active
# Python environment: Chromium and Festival from the distribution, a CPU torch wheel, the package
# with its test extras, and the JS test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v festival >/dev/null 2>&1 || missing="$missing festival festlex-cmu festvox-kallpc16k festvox-us-slt-hts"
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
python -m pip install -q --upgrade pip
# A CPU wheel first: a bare torch requirement would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[speech,test]"
if command -v npm >/dev/null 2>&1 && [ -f tests/js/package-lock.json ]; then
  (cd tests/js && npm ci --silent --no-audit --no-fund)
fi
