#!/usr/bin/env bash
# Install the browser libraries Vigil serves from the npm registry (versions pinned in
# web/package-lock.json) and copy the files into src/vigil/console/static/vendor/ (the
# console) and src/vigil/api/static/ (the API's /docs and /redoc, served from the server
# itself, never a CDN). Runs `npm ci` only when the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=src/vigil/console/static/vendor
docs=src/vigil/api/static
stamp="$vendor/.lock-$(cksum < web/package-lock.json | cut -d' ' -f1)"
[ -f "$stamp" ] && exit 0
if ! command -v npm >/dev/null; then
  echo "build-console-assets: npm not found; installing Debian's nodejs and npm" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error >&2
mkdir -p "$vendor"
rm -f "$vendor"/.lock-* "$vendor"/*.js
cp web/node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx.min.js"
cp web/node_modules/chart.js/dist/chart.umd.min.js "$vendor/chart.umd.min.js"
cp web/node_modules/cytoscape/dist/cytoscape.min.js "$vendor/cytoscape.min.js"
mkdir -p "$docs"
rm -f "$docs"/*.js "$docs"/*.css
cp web/node_modules/swagger-ui-dist/swagger-ui-bundle.js "$docs/swagger-ui-bundle.js"
cp web/node_modules/swagger-ui-dist/swagger-ui.css "$docs/swagger-ui.css"
cp web/node_modules/redoc/bundles/redoc.standalone.js "$docs/redoc.standalone.js"
touch "$stamp"
echo "console assets in $vendor" >&2
