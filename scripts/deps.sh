#!/bin/sh
# deps.sh - installs the Debian packages profilehub needs to build and test,
# only those missing.  Runs apt-get as root, or through sudo otherwise.
# Called by every make target that builds; cheap when nothing is missing.
set -eu

PKGS="gcc make pkg-config ca-certificates
libyaml-dev libjansson-dev libsqlite3-dev libmicrohttpd-dev
libcurl4-openssl-dev libpq-dev unixodbc-dev libssl-dev zlib1g-dev
libcunit1-dev sqlite3 jq procps time clang libclang-rt-14-dev nodejs
chromium
curl postgresql
odbc-postgresql unixodbc openssl
valgrind
postgresql-client
wrk nginx-light"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
# npm: Debian's package only when no npm is there (Node.js builds from
# elsewhere bundle their own, and Debian's npm conflicts with them)
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# The npm test clients and Playwright need Node.js 20 or later; Debian 12's
# own nodejs is 18 (the tests then say so: tests/run.sh)
node_is_old() {
	v=$(node --version 2>/dev/null || echo v0)
	v=${v#v}
	[ "${v%%.*}" -lt 20 ]
}
warn_old_node() {
	if node_is_old; then
		echo "deps: Node.js $(node --version 2>/dev/null || echo none) is older than 20:" \
			"the hub runs, but the test suite's npm clients need 20 or later" \
			"(Debian 13's nodejs, or https://deb.nodesource.com)" >&2
	fi
	return 0
}
if [ -z "$missing" ]; then
	warn_old_node
	exit 0
fi

echo "deps: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: not root and no sudo: install these by hand:$missing" >&2
	exit 1
fi
# env: sudo's env_reset would drop an exported DEBIAN_FRONTEND
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	$missing >/dev/null
echo "deps: done" >&2
warn_old_node
