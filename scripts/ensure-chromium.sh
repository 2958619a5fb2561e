#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
# Installs the Debian package when it is missing; prints the executable path.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests (apt-get, about 30 s)..." >&2
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    log="$(mktemp)"
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            $SUDO apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "could not install chromium with apt-get (log above)" >&2
        exit 1
    fi
    rm -f "$log"
fi
command -v chromium
