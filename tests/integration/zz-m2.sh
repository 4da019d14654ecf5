#!/bin/bash
. "$(dirname "$0")/../lib.sh"
start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 5 --size 21000000 --seed pre > /dev/null
push_image "$WORK/img" v1 "$UP/bench/pre:v1"
L=$(cd "$WORK/img/blobs/sha256" && ls -S | head -5)
now() { date +%s.%N; }
for rep in 1 2; do
for mode in seq par; do
	start_pullgate m$mode$rep --upstream "http://$UP" --log-level warn
	t0=$(now)
	if [ $mode = seq ]; then
		for h in $L; do curl -s -o /dev/null "http://127.0.0.1:$PG_PORT/v2/bench/pre/blobs/sha256:$h"; done
	else
		pids=""
		for h in $L; do curl -s -o /dev/null "http://127.0.0.1:$PG_PORT/v2/bench/pre/blobs/sha256:$h" & pids="$pids $!"; done
		wait $pids
	fi
	t1=$(now)
	echo "pg-$mode $(echo "$t1 - $t0" | bc -l) cpu(ticks) $(awk '{print $14+$15}' /proc/$PG_PID/stat) reg $(awk '{print $14+$15}' /proc/$REG_PID/stat)"
	stop_pid $PG_PID
	t0=$(now)
	if [ $mode = seq ]; then
		for h in $L; do curl -s -o /dev/null "http://$UP/v2/bench/pre/blobs/sha256:$h"; done
	else
		pids=""
		for h in $L; do curl -s -o /dev/null "http://$UP/v2/bench/pre/blobs/sha256:$h" & pids="$pids $!"; done
		wait $pids
	fi
	t1=$(now)
	echo "direct-$mode $(echo "$t1 - $t0" | bc -l)"
done
done
finish
