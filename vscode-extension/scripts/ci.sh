#!/usr/bin/env bash
# Everything CI needs for the VS Code extension, on a fresh machine: install the locked npm
# dependencies, lint + typecheck + unit tests, then one .vsix per platform VS Code publishes
# (vscode-extension/ckptlens-<target>-<version>.vsix for win32-x64, win32-arm64, darwin-x64,
# darwin-arm64, linux-x64, linux-arm64 and alpine-x64), each checked by scripts/check_vsix.py (the
# native libcst of its platform for CPython 3.10-3.13, the manifest's target), then smoke-test the
# built extension against the bundled server (bundled/ is left as the linux-x64 one).
# tests/test_vsix.py checks the packages again and runs the linux-x64 one's server.
#
# The server is bundled with $PYTHON if set, else the repository's .venv, else python3 on PATH.
# Idempotent: re-running reuses the downloaded Python wheels (vscode-extension/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "ci.sh: Node.js >= 20 is needed, found $(node --version)" >&2
    exit 1
fi

python=${PYTHON:-}
if [ -z "$python" ] && [ -x ../.venv/bin/python3 ]; then
    python=$(cd ../.venv/bin && pwd)/python3
fi
python=${python:-python3}
# package.json runs `python3 scripts/bundle_server.py`: put the chosen interpreter first.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
python=$(command -v "$python")
printf '#!/bin/sh\nexec "%s" "$@"\n' "$python" > "$bin_dir/python3"  # not a symlink: a venv must stay a venv
chmod +x "$bin_dir/python3"
export PATH="$bin_dir:$PATH"
echo "ci.sh: node $(node --version), npm $(npm --version), $(python3 --version) ($(python3 -c 'import sys; print(sys.prefix)'))"

export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
npm ci --no-audit --no-fund
npm test
rm -f ./*.vsix
npm run package:all
python3 scripts/check_vsix.py --all
# The built extension with the real language client and the bundled server (see test/smoke/).
npm run test:smoke
ls -l ./*.vsix
