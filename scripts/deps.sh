#!/bin/sh
# deps.sh - installs the Debian packages profilehub needs to build and test,
# only those missing.  Runs apt-get as root, or through sudo otherwise.
# Called by every make target that builds; cheap when nothing is missing.
set -eu

PKGS="gcc make pkg-config ca-certificates
libyaml-dev libjansson-dev libsqlite3-dev libmicrohttpd-dev
libcurl4-openssl-dev libpq-dev unixodbc-dev libssl-dev zlib1g-dev
libcunit1-dev sqlite3 jq procps clang libclang-rt-14-dev nodejs
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
[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: not root and no sudo: install these by hand:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done" >&2
