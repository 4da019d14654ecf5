#!/bin/sh
# A Docker credential helper for the tests (credhelper.sh), installed on
# the daemon's PATH as docker-credential-NAME (a link to this file). It
# answers "get" as the protocol says, and what it does is in the files of
# $PG_CREDHELPER_DIR: each call appends the server URL it was given to
# NAME.calls; it answers with the username in "user" and the secret in
# "secret" (or NAME.secret if there is one; the test changes them), after
# "delay" seconds if that file exists. By NAME it misbehaves instead:
#   *fail     exits 1 with an error message, as a helper without the entry
#   *hang     never answers (sleeps 37 s; the daemon must kill it)
#   *garbage  answers something that is not JSON
#   *bomexit  prints its answer after a byte-order mark, then exits 1
d=${PG_CREDHELPER_DIR:?}
name=${0##*/docker-credential-}
[ "$1" = get ] || { echo "only get is supported"; exit 1; }
url=$(cat)
echo "$url" >> "$d/$name.calls"
case $name in
*fail)	echo "credentials not found in the test store"; exit 1 ;;
*hang)	exec sleep 37 ;;
*garbage) echo "<html>this is not JSON</html>"; exit 0 ;;
esac
[ -f "$d/delay" ] && sleep "$(cat "$d/delay")"
secret=$d/secret
[ -f "$d/$name.secret" ] && secret=$d/$name.secret
case $name in
*bomexit) printf '\357\273\277' ;;
esac
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "$url" \
    "$(cat "$d/user")" "$(cat "$secret")"
case $name in
*bomexit) exit 1 ;;
esac
