#!/bin/bash
# The manual pages: they format without warnings, and name every command
# the binary has and every key the configuration parser accepts, so the
# documentation cannot silently fall behind the code.
. "$(dirname "$0")/../lib.sh"

MAN=$TOP/packaging/man
for page in pullgate.8 pullgate.conf.5; do
	check "mandoc formats $page without warnings" \
	    mandoc -Tlint -Wwarning "$MAN/$page"
done

# Commands: the "Commands:" block of pullgate --help.
"$PULLGATE" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }' \
    > "$WORK/commands"
check "pullgate --help lists commands" test -s "$WORK/commands"
missing=""
while read -r cmd; do
	grep -Eq "^\.(It )?Ic $cmd( |$)" "$MAN/pullgate.8" ||
	    missing="$missing $cmd"
done < "$WORK/commands"
check "pullgate(8) describes every command (missing:${missing:- none})" \
    test -z "$missing"

# Keys: every name in the parser's key tables.
sed -n 's/^[[:space:]]*{ "\([a-z_]*\)", CONFIG_KEY_.*/\1/p' \
    "$TOP/proxy/config/config.c" | sort -u > "$WORK/keys"
check "the parser's key tables are found" test "$(wc -l < "$WORK/keys")" -gt 20
missing=""
while read -r key; do
	grep -Eq "(^\.(It )?Ic |, )([a-z_]+\.)?$key([ ,.]|$)" \
	    "$MAN/pullgate.conf.5" || missing="$missing $key"
done < "$WORK/keys"
check "pullgate.conf(5) describes every key (missing:${missing:- none})" \
    test -z "$missing"
missing=""
while read -r key; do
	grep -q "\\b$key\\b" "$TOP/etc/pullgate.conf" || missing="$missing $key"
done < "$WORK/keys"
check "etc/pullgate.conf mentions every key (missing:${missing:- none})" \
    test -z "$missing"
finish
