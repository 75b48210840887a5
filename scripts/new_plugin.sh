#!/bin/sh
# new_plugin.sh - scaffolds plugins/NAME from a template plugin (what
# `make plugin NAME=foo [KIND=pull|push|export]` runs): KIND pull (the
# default) copies plugins/example, push plugins/example_push, export
# plugins/example_export.  Copies the template's source and plugin.mk,
# renaming the template's name to NAME in file names and contents (the
# descriptor name, function names, the plugin.mk variable).  Never
# overwrites anything.
# Usage: sh scripts/new_plugin.sh NAME [KIND]
set -eu
cd "$(dirname "$0")/.."

name=${1:-}
kind=${2:-pull}
if [ -z "$name" ]; then
	echo "usage: make plugin NAME=foo [KIND=pull|push|export]   (NAME: [a-z][a-z0-9_]*, at most 32 characters)" >&2
	exit 2
fi
case $kind in
pull) template=example tests=test_example_plugin.c ;;
push) template=example_push tests=test_example_templates.c ;;
export) template=example_export tests=test_example_templates.c ;;
*)
	echo "new_plugin: unknown KIND \"$kind\": use pull (a source the hub pulls on a schedule)," \
		"push (a source with HTTP routes) or export (takes every change)" >&2
	exit 2
	;;
esac
# A plugin name is a C identifier fragment, a file name and a YAML value.
if ! printf '%s\n' "$name" | grep -Eqx '[a-z][a-z0-9_]{0,31}'; then
	echo "new_plugin: bad name \"$name\": use [a-z][a-z0-9_]*, at most 32 characters" >&2
	exit 2
fi
case $name in
example | example_push | example_export)
	echo "new_plugin: \"$name\" is a template itself; pick another name" >&2
	exit 2
	;;
esac
dest="plugins/$name"
if [ -e "$dest" ]; then
	echo "new_plugin: $dest already exists; not touching it" >&2
	exit 1
fi

token_var="$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')_TOKEN"
tmp="plugins/.$name.new.$$"
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp"
for src in "plugins/$template"/*.c "plugins/$template"/*.h "plugins/$template/plugin.mk"; do
	[ -e "$src" ] || continue
	base=$(basename "$src" | sed "s/$template/$name/g")
	# the header's line saying that this is the template would be wrong
	sed -e "s/$template/$name/g" \
	    -e "s/^ \* The template of .make plugin NAME=foo KIND=$kind. (plugins\/foo\/foo\.c)\.$/ * Made by \`make plugin NAME=$name KIND=$kind\` from the hub's template: say here what it does./" \
	    "$src" >"$tmp/$base"
done
mv "$tmp" "$dest"
trap - EXIT INT TERM

echo "Created $dest (KIND=$kind):"
for f in "$dest"/*; do
	echo "  ${f##*/}"
done
echo
echo "Next steps:"
echo "  1. Edit $dest/$name.c: its config keys, create(), and what it does."
echo "  2. Libraries: $dest/plugin.mk (${name}_LIBS := -lcurl ...)."
echo "  3. Build: make        (gives build/plugins/$name.so)"
case $kind in
pull)
	cat <<EOT
  4. Add it under sources: in conf/hub.yaml.  As copied it reads a JSON Lines
     file (path is required); without a schedule, profilehub run never pulls it:
       - name: $name
         plugin: $name
         path: var/$name.jsonl
         schedule: every 1m
  5. Try it: one pull now with sync (run pulls it on the schedule):
       mkdir -p var && echo '{"user_id": "u1", "event": "signup"}' >>var/$name.jsonl
       build/profilehub check
       build/profilehub sync $name
EOT
	;;
push)
	cat <<EOT
  4. Add it under sources: in conf/hub.yaml.  As copied it takes one JSON
     record per POST to /in/$name/v1/record, with a bearer token:
       - name: $name
         plugin: $name
         token: "\${$token_var}"
  5. Try it: set the token (check and run refuse an unset \${$token_var}), run
     the hub, then, in another terminal with the same $token_var, post a
     record and read the profile:
       export $token_var=a-long-random-value-of-yours   # the same in both terminals
       build/profilehub check && build/profilehub run
       curl -H "Authorization: Bearer \$$token_var" \\
         -d '{"user_id": "u1", "event": "signup"}' http://127.0.0.1:8080/in/$name/v1/record
       build/profilehub profile --custom-id u1
EOT
	;;
export)
	cat <<EOT
  4. Add it under exports: in conf/hub.yaml.  As copied it appends every
     change, one JSON line each, to a file (fsync()ed before it is done):
       - name: $name
         plugin: $name
         path: var/$name.jsonl
  5. Try it: run the hub, then, in another terminal, send a record to the
     Segment source of conf/hub.yaml and watch the file (a new export first
     gets a line for every profile already stored: its backfill):
       build/profilehub check && build/profilehub run
       curl -u "\${SEGMENT_WRITE_KEY:-dev-write-key}:" http://127.0.0.1:8080/in/web/v1/track \\
         -d '{"userId": "u1", "event": "signup"}'
       tail -f var/$name.jsonl
EOT
	;;
esac
echo "  6. Test it like tests/unit/$tests does."
echo "See plugins/example/README.md."
