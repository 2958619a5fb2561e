#!/usr/bin/env bash
# Spark (vigil spark run, the Spark tests) runs on Debian's OpenJDK 17. Installs the package
# when no Java 17 or newer is on the path; prints JAVA_HOME.
set -euo pipefail
version() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! command -v java >/dev/null 2>&1 || [ "$(version)" -lt 17 ]; then
    echo "installing Debian's openjdk-17-jre-headless for Spark (apt-get, about a minute)..." >&2
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    log="$(mktemp)"
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; } \
            >"$log" 2>&1; then
        cat "$log" >&2
        echo "could not install openjdk-17-jre-headless with apt-get (log above)" >&2
        exit 1
    fi
    rm -f "$log"
fi
dirname "$(dirname "$(readlink -f "$(command -v java)")")"
