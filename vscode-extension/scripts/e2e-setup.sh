#!/usr/bin/env bash
# What the real-VS Code end-to-end test (tests/test_vscode_e2e.py) needs, installed once and cached:
#   - Debian's chromium (driven by pip's playwright; Playwright's own browser download is not used),
#     ripgrep (code-server's search; seeds @vscode/ripgrep below) and libkrb5-dev (code-server's
#     native `kerberos` module builds against it);
#   - code-server 4.100.3 (VS Code 1.100.3, the newest release that runs on Node 20) from npm, into
#     $CKPTLENS_E2E_CACHE (default ~/.cache/ckptlens-e2e), outside the repository so that a fresh
#     clone on the same machine reuses it.
# Prints the code-server path on its last line. Idempotent: a warm run only checks what is there.
# The test finds code-server in the same cache (or through $CKPTLENS_CODE_SERVER).
set -euo pipefail

version=4.100.3
cache=${CKPTLENS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ckptlens-e2e}
prefix="$cache/code-server-$version"
bin="$prefix/node_modules/.bin/code-server"

missing=()
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
[ -e /usr/include/gssapi/gssapi.h ] || [ -x "$bin" ] || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "e2e-setup: apt-get install ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

installed_version() {
    # `--version` prints "4.100.3 <commit> with Code 1.100.3", after any log lines.
    "$bin" --version 2>/dev/null | grep -Eo '^[0-9]+\.[0-9]+\.[0-9]+ [0-9a-f]+ with Code' | cut -d' ' -f1
}

if [ ! -x "$bin" ] || [ "$(installed_version)" != "$version" ]; then
    echo "e2e-setup: installing code-server $version into $prefix" >&2
    # @vscode/ripgrep's postinstall downloads rg from GitHub unless its cache already holds the
    # release tarball: seed the cache with Debian's rg.
    tmp=$(node -p 'require("os").tmpdir()')
    rg_cache="$tmp/vscode-ripgrep-cache-1.15.11"
    rg_tar="$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
    if [ ! -s "$rg_tar" ]; then
        mkdir -p "$rg_cache"
        stage=$(mktemp -d)
        cp "$(command -v rg)" "$stage/rg"
        tar -czf "$rg_tar.part" -C "$stage" rg
        mv "$rg_tar.part" "$rg_tar"
        rm -rf "$stage"
    fi
    rm -rf "$prefix"
    mkdir -p "$prefix"
    echo '{"name": "ckptlens-e2e-code-server", "private": true}' > "$prefix/package.json"
    (
        cd "$prefix"
        export npm_config_nodedir=/usr npm_config_yes=true npm_config_fund=false \
            npm_config_audit=false npm_config_update_notifier=false
        npm install --unsafe-perm --no-audit --no-fund --loglevel=error "code-server@$version" >&2
    )
    actual=$(installed_version)
    if [ "$actual" != "$version" ]; then
        echo "e2e-setup: code-server reports version '$actual', expected $version" >&2
        exit 1
    fi
fi
echo "$bin"
