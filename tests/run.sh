#!/bin/sh
# Runs every test: the cmocka unit tests for each build variant (OpenSSL,
# mbedTLS, OpenSSL with ASan+UBSan), the integration scripts for the
# variants each names (script_variants below), a short
# fixed slice of every fuzz target (once: build/fuzz is one clang build),
# and ends with one summary line "N passed, N failed".
#
#   tests/run.sh [VARIANT...]      default: openssl mbedtls openssl-address
#   ONLY=pull tests/run.sh         only integration scripts matching "pull"
#                                  (the fuzz slice runs only if "fuzz" matches)

cd "$(dirname "$0")/.." || exit 1
VARIANTS=${*:-openssl mbedtls openssl-address}
PASSED=0
FAILED=0
FAILURES=""
LOGDIR=$(mktemp -d /tmp/pullgate-results.XXXXXX)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1"

# script_variants SCRIPT: the builds an integration script runs for. A
# script may name them with an only_variants line (tests/lib.sh). Without
# one it runs for every build but plain openssl when the ASan build runs
# too: that is the same code, with the sanitizers watching.
script_variants() {
	local want
	want=$(sed -n 's/^only_variants[ \t]*\([^#]*\).*/\1/p' "$1" | head -n 1 | tr -s ' \t' '  ')
	if [ -n "$want" ]; then
		echo "$want"
	else
		case " $VARIANTS " in
		*" openssl-address "*) echo "$VARIANTS" | sed 's/\bopenssl\b\( \|$\)//' ;;
		*) echo "$VARIANTS" ;;
		esac
	fi
}

record() {	# record PASSED FAILED NAME
	PASSED=$((PASSED + $1))
	FAILED=$((FAILED + $2))
	[ "$2" -gt 0 ] && FAILURES="$FAILURES $3"
}

# The code's structure (layers, circles, exports), once, from the objects
# of the first variant.
set -- $VARIANTS
out=$LOGDIR/structure.log
python3 tests/tools/structure.py . "build/$1" > "$out" 2>&1
rc=$?
p=$(grep -c '^ok - ' "$out")
f=$(grep -c '^not ok - ' "$out")
[ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
echo "structure: $p passed, $f failed"
[ "$f" -gt 0 ] && sed 's/^/    /' "$out"
record "$p" "$f" structure

# The fuzz targets: each replays its corpus, then FUZZ_RUNS mutations.
FUZZ_RUNS=${FUZZ_RUNS:-2000}
case fuzz in
*"${ONLY:-}"*)
	out=$LOGDIR/fuzz.log
	FUZZ_WORK=$LOGDIR/fuzz/corpus sh tests/fuzz/run.sh -runs="$FUZZ_RUNS" \
	    > "$out" 2>&1
	rc=$?
	p=$(grep -c '^ok - ' "$out")
	f=$(grep -c '^not ok - ' "$out")
	[ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
	echo "fuzz: $p passed, $f failed"
	[ "$f" -gt 0 ] && sed 's/^/    /' "$out"
	record "$p" "$f" fuzz
	;;
esac

for v in $VARIANTS; do
	for t in build/$v/tests/test_*; do
		[ -x "$t" ] || continue
		name="$v/unit/$(basename "$t")"
		out=$LOGDIR/$(echo "$name" | tr / _).log
		"$t" > "$out" 2>&1
		rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out")
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out")
		p=${p:-0}; f=${f:-0}
		[ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
		echo "$name: $p passed, $f failed"
		[ "$f" -gt 0 ] && sed 's/^/    /' "$out"
		record "$p" "$f" "$name"
	done
	[ -x "build/$v/pullgate" ] || continue
	for s in tests/integration/*.sh; do
		case "$s" in *"${ONLY:-}"*) ;; *) continue ;; esac
		case " $(script_variants "$s") " in *" $v "*) ;; *) continue ;; esac
		name="$v/$(basename "$s" .sh)"
		out=$LOGDIR/$(echo "$name" | tr / _).log
		PULLGATE=$PWD/build/$v/pullgate bash "$s" > "$out" 2>&1
		rc=$?
		p=$(grep -c '^ok - ' "$out")
		f=$(grep -c '^not ok - ' "$out")
		[ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
		echo "$name: $p passed, $f failed"
		[ "$f" -gt 0 ] && sed 's/^/    /' "$out" | tail -40
		record "$p" "$f" "$name"
	done
done
echo "logs in $LOGDIR"
[ -n "$FAILURES" ] && echo "failing:$FAILURES"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
