#!/usr/bin/env bash
# Servers for the REST source's tests (sluice::rest): json-server serves a growing
# collection over real HTTP. The fault-injecting, TLS and OAuth-verifying servers are
# Python scripts in tests/rest/ (standard library only), so nothing else is needed.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

JSON_SERVER_VERSION=0.17.4
prefix="$(sluice_npm_prefix)"
installed="$(node -e "try{console.log(require('$prefix/lib/node_modules/json-server/package.json').version)}catch(e){}" 2>/dev/null || true)"
if [[ "$installed" != "$JSON_SERVER_VERSION" ]]; then
  echo "deps: npm install json-server@$JSON_SERVER_VERSION into $prefix"
  mkdir -p "$prefix"
  npm install --global --prefix "$prefix" --no-audit --no-fund --loglevel=error "json-server@$JSON_SERVER_VERSION"
fi
