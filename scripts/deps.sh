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
valgrind gdb clang-format-14 python3
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

# The npm test clients (@segment/analytics-node) and Playwright need
# Node.js 20 or later; Debian 12's own nodejs is 18.  Then Node.js itself
# comes from the npm registry, as the clients do: the package
# node-linux-<arch> (the official build, pinned) into .deps/node, and
# .deps/node/bin (first on the Makefile's PATH) links its node.  The hub
# never needs it.
NODE_PIN=20.20.2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
node_is_old() {
	v=$(node --version 2>/dev/null || echo v0)
	v=${v#v}
	[ "${v%%.*}" -lt 20 ]
}
fetch_node() {
	node_is_old || return 0
	case $(uname -m) in
	x86_64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*)
		echo "deps: Node.js $(node --version 2>/dev/null || echo none) is older than 20" \
			"and no build of it for $(uname -m) is known: the test suite's npm" \
			"clients need 20 or later" >&2
		return 0
		;;
	esac
	dir="$ROOT/.deps/node"
	if "$dir/bin/node" --version >/dev/null 2>&1; then
		return 0 # fetched before (make puts it first on PATH)
	fi
	echo "deps: Node.js $(node --version 2>/dev/null || echo none) is older than 20:" \
		"fetching Node.js $NODE_PIN (npm package node-linux-$arch) into .deps/node" >&2
	if npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" \
		"node-linux-$arch@$NODE_PIN" >&2; then
		mkdir -p "$dir/bin"
		ln -sf "../node_modules/node-linux-$arch/bin/node" "$dir/bin/node"
		echo "deps: Node.js $("$dir/bin/node" --version) is in .deps/node/bin" >&2
	else
		echo "deps: could not fetch Node.js $NODE_PIN: the test suite's npm clients" \
			"need Node.js 20 or later" >&2
	fi
	return 0
}
if [ -z "$missing" ]; then
	fetch_node
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
fetch_node
