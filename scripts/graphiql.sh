#!/usr/bin/env bash
# Builds GraphiQL's files (graphiql/assets) from the npm packages pinned in
# graphiql/src when they are missing or older than their sources. They are
# build outputs, not committed; the binary embeds whatever is there. Without
# npm the server still runs: / then says how to build them, and the browser
# test skips.
set -uo pipefail
cd "$(dirname "$0")/../graphiql"
out=assets/graphiql.js
if [ -f "$out" ] && [ "$out" -nt src/index.jsx ] && [ "$out" -nt src/package-lock.json ] && [ "${1:-}" != "--force" ]; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "graphiql.sh: npm not found: GraphiQL's files are not built (install Node and npm, then make graphiql)" >&2
	exit 0
fi
echo "graphiql.sh: building GraphiQL's files from graphiql/src (npm ci, esbuild)" >&2
(cd src && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build) >&2
