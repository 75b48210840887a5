#!/bin/sh
# new_plugin.sh - `make plugin NAME=foo` scaffolds a plugin that builds:
# in a temp copy of the tree, scaffold foo, build build/plugins/foo.so and
# check that it exports hub_plugin_entry and nothing else.  Also checks
# that bad names and existing plugins are refused without touching files.
set -eu
cd "$(dirname "$0")/../.."
# a fresh make in a copy of the tree: forget the calling make's variables
# (make check passes B=build/asan SAN=1 down, through MAKEFLAGS and as
# environment variables)
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES B SAN FUZZ EXTRA_CFLAGS EXTRA_LDFLAGS

work=$(mktemp -d "${TMPDIR:-/tmp}/hub_new_plugin.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Only what a plugin build needs: the Makefile, the header, the scaffold
# script and the template (other plugins may be mid-edit in this tree).
mkdir -p "$work/hub" "$work/plugins"
cp Makefile "$work/"
cp -r scripts "$work/"
cp -r hub/include "$work/hub/"
cp -r plugins/example "$work/plugins/"
cd "$work"

# Refusals: bad names, the template's own name, an existing plugin.
for bad in "" Foo 1abc foo-bar "foo bar" a234567890123456789012345678901234 example; do
	if make --no-print-directory plugin NAME="$bad" >out.txt 2>&1; then
		fail "make plugin NAME=\"$bad\" succeeded"
	fi
done
[ "$(ls plugins)" = example ] || fail "a refused name left files: $(ls -A plugins)"

make --no-print-directory plugin NAME=foo >out.txt 2>&1 || { cat out.txt; fail "scaffold"; }
grep -q "Next steps" out.txt || fail "no next steps printed"
[ -f plugins/foo/foo.c ] || fail "plugins/foo/foo.c missing"
[ -f plugins/foo/plugin.mk ] || fail "plugins/foo/plugin.mk missing"
[ ! -e plugins/foo/example.c ] || fail "example.c was copied unrenamed"
grep -q '\.name = "foo"' plugins/foo/foo.c || fail "descriptor name not renamed"
grep -q '^foo_LIBS' plugins/foo/plugin.mk || fail "plugin.mk variable not renamed"
grep -q "Made by .make plugin NAME=foo. from the" plugins/foo/foo.c &&
	! grep -q "template for new plugins" plugins/foo/foo.c ||
	fail "the scaffold's header still says it is the template: $(sed -n 1,6p plugins/foo/foo.c)"
if grep -n example plugins/foo/foo.c plugins/foo/plugin.mk; then
	fail "\"example\" left in the scaffold"
fi
[ "$(ls -A plugins | tr '\n' ' ')" = "example foo " ] || fail "stray files: $(ls -A plugins)"

if make --no-print-directory plugin NAME=foo >out.txt 2>&1; then
	fail "scaffolding over an existing plugin succeeded"
fi
grep -q "already exists" out.txt || fail "no 'already exists' message"

make --no-print-directory HUB_DEPS_DONE=1 build/plugins/foo.so >out.txt 2>&1 ||
	{ cat out.txt; fail "build of foo.so"; }
[ -f build/plugins/foo.so ] || fail "build/plugins/foo.so missing"

exported=$(nm -D --defined-only build/plugins/foo.so | awk '{ print $NF }')
[ "$exported" = hub_plugin_entry ] ||
	fail "foo.so must export only hub_plugin_entry, exports: $exported"
echo "new_plugin: scaffolded foo builds and exports only hub_plugin_entry"
