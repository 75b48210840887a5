#!/bin/sh
# new_plugin.sh - scaffolds plugins/NAME from plugins/example (what
# `make plugin NAME=foo` runs).  Copies the example's source and plugin.mk,
# renaming "example" to NAME in file names and contents (the descriptor
# name, function names, the plugin.mk variable).  Never overwrites anything.
# Usage: sh scripts/new_plugin.sh NAME
set -eu
cd "$(dirname "$0")/.."

name=${1:-}
if [ -z "$name" ]; then
	echo "usage: make plugin NAME=foo   (NAME: [a-z][a-z0-9_]*, at most 32 characters)" >&2
	exit 2
fi
# A plugin name is a C identifier fragment, a file name and a YAML value.
if ! printf '%s\n' "$name" | grep -Eqx '[a-z][a-z0-9_]{0,31}'; then
	echo "new_plugin: bad name \"$name\": use [a-z][a-z0-9_]*, at most 32 characters" >&2
	exit 2
fi
if [ "$name" = example ]; then
	echo "new_plugin: \"example\" is the template itself; pick another name" >&2
	exit 2
fi
dest="plugins/$name"
if [ -e "$dest" ]; then
	echo "new_plugin: $dest already exists; not touching it" >&2
	exit 1
fi

tmp="plugins/.$name.new.$$"
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp"
for src in plugins/example/*.c plugins/example/*.h plugins/example/plugin.mk; do
	[ -e "$src" ] || continue
	base=$(basename "$src" | sed "s/example/$name/g")
	# the header's lines saying that this is the template would be wrong
	sed -e "s/example/$name/g" \
	    -e "s/It is the template for new plugins: .make plugin NAME=foo. copies$/Made by \`make plugin NAME=$name\` from the/" \
	    -e "s/^ \* it to plugins\/foo\/foo\.c\.  A plugin/ * hub's template plugin: edit this comment to say what it does.  A plugin/" \
	    "$src" >"$tmp/$base"
done
mv "$tmp" "$dest"
trap - EXIT INT TERM

cat <<EOF
Created $dest:
$(ls "$dest" | sed 's/^/  /')

Next steps:
  1. Edit $dest/$name.c: the config keys, create(), and the role you need
     (pull() here; routes[] for push, export_batch() for export).
  2. Libraries: $dest/plugin.mk (${name}_LIBS := -lcurl ...).
  3. Build: make        (gives build/plugins/$name.so)
  4. A pull source as copied (for a push source or an export, add it under
     sources: or exports: with the keys you declared, then run the hub).
     Add it under sources: in conf/hub.yaml.  As copied it reads a JSON Lines
     file (path is required); without a schedule, profilehub run never pulls it:
       - name: $name
         plugin: $name
         path: var/$name.jsonl
         schedule: every 1m
  5. Try it: one pull now with sync (run pulls it on the schedule):
       mkdir -p var && echo '{"user_id": "u1", "event": "signup"}' >>var/$name.jsonl
       build/profilehub check
       build/profilehub sync $name
  6. Test it like tests/unit/test_example_plugin.c does.
See plugins/example/README.md.
EOF
