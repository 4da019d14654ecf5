#!/bin/bash
# temporary: prefill vs skopeo copy, before and after, one run
. "$(dirname "$0")/../lib.sh"
OLD=/tmp/resume-before/build/openssl/pullgate
NEW=$PULLGATE
start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 5 --size 21000000 --seed pre > /dev/null
push_image "$WORK/img" v1 "$UP/bench/pre:v1"
cat > "$WORK/pg.conf" <<CONF
registries = ( { id = 3; name = "up"; url = "http://$UP"; } );
default_registry = "up";
CONF
now() { date +%s.%N; }
for rep in 1 2 3 4 5; do
	rm -rf "$WORK/direct"
	t0=$(now); pull_image "$UP/bench/pre:v1" "$WORK/direct"; t1=$(now)
	echo "skopeo $rep $(echo "$t1 - $t0" | bc -l)"
	for v in old new1 new2 new4; do
		bin=$OLD; j=""; case $v in new*) bin=$NEW; j="--jobs ${v#new}";; esac
		rm -rf "$WORK/c-$v"
		t0=$(now)
		"$bin" prefill -c "$WORK/pg.conf" --listen "127.0.0.1:$(free_port)" --cache "$WORK/c-$v" $j bench/pre:v1 > "$WORK/$v.out" 2>&1 || cat "$WORK/$v.out"
		t1=$(now)
		echo "prefill-$v $rep $(echo "$t1 - $t0" | bc -l)"
	done
done
finish
