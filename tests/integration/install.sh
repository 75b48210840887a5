#!/bin/sh
# install.sh - `make install` gives a plugin author what building a plugin
# outside the tree needs, and gives the hub its plugins: into a staging
# DESTDIR, install; the header and the pkg-config file are there (the
# header the tree's, the .pc's Version the ABI), the templates are not
# installed as plugins; build the example pull source renamed "tapfile"
# in a directory of its own against the installed header alone; the
# installed hub (run through its bin/ link) finds its own plugins without
# plugin_dir, and with plugin_dir listing its directory and the author's
# it checks, syncs the new plugin's file and shows the record; a copy of
# tapfile.so in both directories is refused, naming both files.  The
# install runs under a umask of 0 and leaves nothing writable by others.
# `make uninstall` takes out every file the install put there and its
# directories, keeping the author's copy in the hub's plugins/ (named), and
# a bin/profilehub that is not install's link; a PREFIX or DESTDIR with a
# blank (which make splits into paths) is refused by both, touching nothing.
set -eu
cd "$(dirname "$0")/../.."
. tests/lib/hub.sh
hub_need_built jsonl segment
hub_need cc pkg-config jq
hub_tmpdir install

stage="$T/stage"
prefix=/opt/ph
root="$stage$prefix"
# the build's objects as they are: install only copies (no SAN or B of a
# calling make: B names the build), under a umask of 0: every mode must
# come from the install itself
(unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
 umask 000
 make --no-print-directory HUB_DEPS_DONE=1 B="$B" DESTDIR="$stage" PREFIX="$prefix" install \
	>"$T/install.out" 2>&1) || die "make install: $(tail -5 "$T/install.out")"

# nothing installed is writable by others (a .pc written with the umask was
# 0666: anyone could change the flags plugins are compiled with)
ww=$(find "$stage" ! -type l -perm -o+w)
[ -z "$ww" ] || fail "installed writable by anyone: $ww"

# a header of plugins/common/ changed rebuilds the plugins that read it:
# segment.so (segment_event.c reads time_text.h) was left as it was, the
# dependency file of its one compiler run naming the last source's alone
(unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
 make --no-print-directory -n HUB_DEPS_DONE=1 B="$B" -W plugins/common/time_text.h \
	"$B/plugins/segment.so" >"$T/deps.out" 2>&1) || die "make -n: $(tail -5 "$T/deps.out")"
grep -q "plugins/segment/segment_event.c" "$T/deps.out" ||
	fail "plugins/common/time_text.h changed: segment.so not rebuilt: $(head -3 "$T/deps.out")"

[ -L "$root/bin/profilehub" ] && [ -x "$root/lib/profilehub/profilehub" ] ||
	fail "no bin/profilehub link to lib/profilehub/profilehub: $(ls -lR "$root" | head -20)"
for p in jsonl segment; do
	[ -f "$root/lib/profilehub/plugins/$p.so" ] || fail "$p.so is not installed"
done
for f in "$root"/lib/profilehub/plugins/example*; do
	[ ! -e "$f" ] || fail "a template is installed as a plugin: $f"
done
cmp -s hub/include/hub_plugin.h "$root/include/profilehub/hub_plugin.h" ||
	fail "include/profilehub/hub_plugin.h is not the tree's"
[ -f "$root/share/profilehub/examples/example.c" ] || fail "the example's source is not installed"
abi=$(sed -n 's/^#define HUB_ABI_MAJOR //p' hub/include/hub_plugin.h).$(sed -n \
	's/^#define HUB_ABI_MINOR //p' hub/include/hub_plugin.h)
pc() {
	PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config "$@" \
		profilehub-plugin
}
[ "$(pc --modversion)" = "$abi" ] ||
	fail "the .pc's version is not the ABI $abi: $(pc --modversion)"

# the author's plugin, outside the tree, against the installed header alone
mkdir "$T/src" "$T/mine"
sed 's/\.name = "example"/.name = "tapfile"/' "$root/share/profilehub/examples/example.c" \
	>"$T/src/tapfile.c"
# shellcheck disable=SC2046 # the flags are words
(cd "$T/src" && cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror $(pc --cflags) -shared \
	-fPIC -fvisibility=hidden -o "$T/mine/tapfile.so" tapfile.c -ljansson) >"$T/cc.out" 2>&1 ||
	die "the out-of-tree build: $(cat "$T/cc.out")"

hub="$root/bin/profilehub"
(cd "$T" && "$hub" plugins) >"$T/out" 2>&1 && grep -Eq '^segment +[0-9.]+ +push' "$T/out" ||
	fail "the installed hub does not find its own plugins: $(cat "$T/out")"

cat >"$T/hub.yaml" <<EOT
plugin_dir: [$root/lib/profilehub/plugins, $T/mine]
store: {path: $T/hub.db}
sources:
  - {name: tap, plugin: tapfile, path: $T/tap.jsonl}
exports:
  - {name: out, plugin: jsonl, path: $T/out.jsonl}
EOT
"$hub" -c "$T/hub.yaml" check >"$T/out" 2>&1 || fail "check: $(cat "$T/out")"
echo '{"user_id": "u1", "event": "signup", "id": "t1"}' >"$T/tap.jsonl"
"$hub" -c "$T/hub.yaml" sync tap >"$T/out" 2>&1 || fail "sync tap: $(cat "$T/out")"
"$hub" -c "$T/hub.yaml" profile --custom-id u1 >"$T/out" 2>&1 &&
	jq -e '.event_count == 1 and .events[0].name == "signup" and .events[0].source == "tap"' \
		"$T/out" >/dev/null ||
	fail "the pulled record is not in the profile: $(cat "$T/out")"

# one name in two directories: refused, both files named
cp "$T/mine/tapfile.so" "$root/lib/profilehub/plugins/"
if "$hub" -c "$T/hub.yaml" check >"$T/out" 2>&1; then
	fail "check passed with tapfile.so in two plugin directories"
fi
twice="plugin \"tapfile\" is in two plugin directories,"
twice="$twice $root/lib/profilehub/plugins/tapfile.so and $T/mine/tapfile.so: remove one"
grep -qF "$twice" "$T/out" || fail "the duplicate is not named: $(cat "$T/out")"
# uninstall: all of it gone but the author's copy in the hub's plugins/,
# which keeps that directory (and says so); the shared directories stay
uninst() {
	(unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
	 make --no-print-directory DESTDIR="$stage" PREFIX="$prefix" uninstall \
		>"$T/uninstall.out" 2>&1)
}
# a blank in DESTDIR or PREFIX: refused by both, nothing made or taken
# (make splits the path there: DESTDIR="$T/x $stage" had uninstall
# remove "$stage$prefix/..." and install make "$T/x")
uninst_blank() {
	(unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
	 make --no-print-directory HUB_DEPS_DONE=1 B="$B" DESTDIR="$T/x $1" PREFIX="$prefix" \
		"$2" >"$T/blank.out" 2>&1)
}
before=$(cd "$stage" && find . | sort)
uninst_blank "$stage" uninstall && fail "make uninstall took a DESTDIR with a blank"
grep -qF "uninstall: PREFIX and DESTDIR must hold no blank: '$prefix', '$T/x $stage'" \
	"$T/blank.out" || fail "uninstall does not name the DESTDIR with a blank: $(cat "$T/blank.out")"
[ "$(cd "$stage" && find . | sort)" = "$before" ] ||
	fail "uninstall with a blank in DESTDIR took files: $(cat "$T/blank.out")"
uninst_blank "$T/y" install && fail "make install took a DESTDIR with a blank"
grep -qF "install: PREFIX and DESTDIR must hold no blank: '$prefix', '$T/x $T/y'" \
	"$T/blank.out" || fail "install does not name the DESTDIR with a blank: $(cat "$T/blank.out")"
[ ! -e "$T/x" ] && [ ! -e "$T/y" ] || fail "install with a blank in DESTDIR made $T/x or $T/y"
uninst || die "make uninstall: $(tail -5 "$T/uninstall.out")"
left=$(cd "$stage" && find . ! -type d | sort)
[ "$left" = "./opt/ph/lib/profilehub/plugins/tapfile.so" ] ||
	fail "make uninstall left other files than the author's, or took it: $left"
kept="uninstall: $root/lib/profilehub/plugins is kept: it holds files install did not put there"
grep -qF "$kept" "$T/uninstall.out" ||
	fail "uninstall does not name the directory it keeps: $(cat "$T/uninstall.out")"
rm "$root/lib/profilehub/plugins/tapfile.so"
uninst || die "make uninstall: $(tail -5 "$T/uninstall.out")"
left=$(cd "$stage" && find . -mindepth 1 | sort | tr '\n' ' ')
shared="./opt ./opt/ph ./opt/ph/bin ./opt/ph/include ./opt/ph/lib ./opt/ph/lib/pkgconfig"
[ "$left" = "$shared ./opt/ph/share " ] ||
	fail "make uninstall left profilehub's directories, or took shared ones: $left"
# a bin/profilehub that is not install's link (the operator's own wrapper)
# stays, named
printf '#!/bin/sh\nexec /somewhere/else "$@"\n' >"$root/bin/profilehub"
uninst || die "make uninstall: $(tail -5 "$T/uninstall.out")"
grep -qF "uninstall: $root/bin/profilehub is kept: it is not the link install made" \
	"$T/uninstall.out" ||
	fail "uninstall does not name the bin/profilehub it keeps: $(cat "$T/uninstall.out")"
[ -f "$root/bin/profilehub" ] || fail "uninstall took a bin/profilehub install did not make"
finish install.sh
echo "install.sh: ok"
