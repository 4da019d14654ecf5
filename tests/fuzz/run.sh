#!/bin/sh
# Runs the libFuzzer targets (build/fuzz/fuzz_*, from 'make fuzz-bins'),
# each with its checked-in seed corpus, and prints one line per target:
#   ok - fuzz TARGET: N execs, cov C, ft F, corpus N, 0 crashes
#   not ok - fuzz TARGET: exit N after N execs, cov C, ft F, 1 crash: INPUT
#       (then the sanitizer's or the broken check's lines)
#
#   tests/fuzz/run.sh -max_total_time=60     (make fuzz FUZZ_SECONDS=60)
#   tests/fuzz/run.sh -runs=2000             (the slice tests/run.sh runs)
#   FUZZ_TARGETS="tar import" tests/fuzz/run.sh -max_total_time=600
#
# New inputs go to FUZZ_WORK/<target> (default build/fuzz/corpus), never
# into tests/fuzz/corpus; crashing inputs to FUZZ_WORK/../artifacts. A
# crash found is fixed, then its input is copied into tests/fuzz/corpus/
# <target>/crash-<what>, where every later run replays it.
cd "$(dirname "$0")/../.." || exit 1
FUZZ_WORK=${FUZZ_WORK:-build/fuzz/corpus}
ARTIFACTS=${FUZZ_ARTIFACTS:-$FUZZ_WORK/../artifacts}
LOGS=${FUZZ_LOGS:-$FUZZ_WORK/../logs}
TARGETS=${FUZZ_TARGETS:-$(ls tests/fuzz/corpus)}
failed=0

# Leaks are reported by libFuzzer after the input that caused them.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

for t in $TARGETS; do
	bin=build/fuzz/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz $t: $bin missing (make fuzz-bins)"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$FUZZ_WORK/$t" "$ARTIFACTS/$t" "$LOGS"
	log=$LOGS/$t.log
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	# shellcheck disable=SC2086
	"$bin" "$@" -seed=1 -timeout=20 -rss_limit_mb=2048 -close_fd_mask=3 \
	    -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t/" $dict \
	    "$FUZZ_WORK/$t" "tests/fuzz/corpus/$t" > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	covline=$(grep ' cov: ' "$log" | tail -1)
	cov=$(echo "$covline" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$covline" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$covline" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ $rc -eq 0 ]; then
		echo "ok - fuzz $t: ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, 0 crashes"
	else
		input=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
		echo "not ok - fuzz $t: exit $rc after ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, 1 crash: ${input:-none kept} (log $log)"
		grep -E 'ERROR: |runtime error|broken: |SUMMARY|#[0-3] 0x' \
		    "$log" | head -12 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
[ $failed -eq 0 ]
