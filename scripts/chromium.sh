#!/usr/bin/env bash
# Makes sure a Chromium is on PATH for the browser test (TestGraphiQLInABrowser),
# installing Debian's package with apt-get when it can, as scripts/pg.sh does
# for PostgreSQL. Where it cannot, it says so and the test skips: a missing
# browser never fails `make test` by itself.
set -uo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable; do
	if command -v "$name" >/dev/null 2>&1; then
		exit 0
	fi
done

note() { echo "chromium.sh: $*" >&2; }

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	note "no Chromium on PATH and no apt-get as root to install it: the browser test will skip (apt-get install chromium)"
	exit 0
fi
note "Chromium not found; installing Debian's chromium with apt-get for the browser test (this may take a few minutes)"
if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } >/tmp/chromium-install.log 2>&1; then
	note "apt-get install chromium failed (see /tmp/chromium-install.log): the browser test will skip"
fi
exit 0
