#!/bin/bash
# make bench's table (tests/bench/table.sh), a small slice of it: every
# row is measured and has its figures, and the eight clients of one
# uncached blob cost the upstream its size once. Speed itself is not
# judged here (the machine is shared): that is make bench's business.
. "$(dirname "$0")/../lib.sh"
only_variants openssl

BENCH_BIG_BYTES=24000000 BENCH_LAYER_BYTES=2000000 BENCH_ROUNDS=1 \
    BENCH_MANIFEST_REQUESTS=500 BENCH_HIT_REPS=1 PRETOUCH_MB=16 \
    PULLGATE=$PULLGATE bash "$TOP/tests/bench/table.sh" > "$WORK/table.out" 2> "$WORK/table.err"
rc=$?
check "the table ran to its end (exit $rc)" test "$rc" = 0 || tail -20 "$WORK/table.err"
has() {	# has PATTERN: a row of the table matches it
	grep -q -E "^table: $1" "$WORK/table.out"
}
X='x[0-9]+\.[0-9]{2}'
check "cold and warm pulls, x direct" \
    has "cold pull of the [0-9]+ MB image with skopeo, x direct: $X \(median of 1 rounds"
check "... warm" has "warm pull \(all cached\), x direct: $X "
check "8 clients on one uncached blob, x direct" \
    has "8 clients on one uncached 24 MB blob, time x direct: $X "
check "... which the upstream sent once (bytes x1.00 of the blob)" \
    has "8 clients on one uncached 24 MB blob, upstream bytes x size .*: x1\.00$"
check "cache hits of 1 and 8 clients, and their CPU, next to nginx" sh -c \
    "[ \$(grep -c -E '^table: (cache hit|CPU seconds per GB served on hits), [18] client\(s\).*: [0-9.]+, nginx' '$WORK/table.out') = 4 ]"
check "manifests by tag and by digest, next to nginx" \
    has "manifest GET / HEAD by digest, req/s: [0-9]+ / [0-9]+; nginx [0-9]+ / [0-9]+ \($X / $X\)"
check "prefill, x skopeo copy" has "prefill of the image, x skopeo copy: $X "
# The table shapes the uplink only where it may make a network namespace
# (root with the right to); elsewhere the rows say they were not measured.
if [ "$(id -u)" = 0 ] && command -v tc > /dev/null && unshare -n true 2> /dev/null; then
	check "the cold pull with the upstream at 1gbit (tc in the table's own network namespace)" \
	    has "cold pull of the image, the upstream at 1gbit \(tc\), x direct: $X "
	check "... and the warm pull against the direct one at 1gbit" \
	    has "warm pull \(all cached\), x direct with the upstream at 1gbit \(tc\): $X "
else
	check "the cold pull with the upstream at 1gbit: not measured here (no network namespace)" \
	    has "cold pull of the image, the upstream at 1gbit \(tc\), x direct: not measured"
fi
sed 's/^/# /' "$WORK/table.out"
finish
