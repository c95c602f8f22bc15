#!/bin/bash
# fuzz-long.sh [--merge] [--jobs N] SECONDS TARGET...: runs each libFuzzer
# target for SECONDS, N at a time, on a corpus kept between runs in
# build-fuzz/corpus/NAME (seeded from tests/fuzz/corpus/NAME), and prints one
# line per target: executions, coverage (edges and features) and corpus size.
# With --merge, the inputs that add coverage to the committed corpus are
# copied into tests/fuzz/corpus/NAME, to be reviewed and committed by hand.
set -u
merge=0 jobs=1
while [ $# -gt 0 ]; do
	case $1 in
	--merge) merge=1; shift ;;
	--jobs) jobs=$2; shift 2 ;;
	*) break ;;
	esac
done
seconds=$1
shift
failed=0

run_one() {
	local target=$1 name kept seeds log
	name=$(basename "$target")
	kept=build-fuzz/corpus/${name#fuzz_}
	seeds=tests/fuzz/corpus/${name#fuzz_}
	log=build-fuzz/$name.long.log
	mkdir -p "$kept" "$seeds"
	"$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="build-fuzz/$name-" \
	    "$kept" "$seeds" >"$log" 2>&1
	echo $? >"$log.rc"
}

report_one() {
	local target=$1 name log rc execs cov ft added=0 before
	name=$(basename "$target")
	log=build-fuzz/$name.long.log
	read -r rc <"$log.rc"
	rm -f "$log.rc"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	if [ "$merge" = 1 ] && [ "$rc" = 0 ]; then
		before=$(ls "tests/fuzz/corpus/${name#fuzz_}" | wc -l)
		"$target" -merge=1 -max_len=65536 "tests/fuzz/corpus/${name#fuzz_}" \
		    "build-fuzz/corpus/${name#fuzz_}" >"$log.merge" 2>&1
		added=$(( $(ls "tests/fuzz/corpus/${name#fuzz_}" | wc -l) - before ))
	fi
	if [ "$rc" = 0 ]; then
		echo "ok $name ${seconds}s: ${execs:-?} executions, ${cov:-cov ?}," \
		    "corpus $(ls "build-fuzz/corpus/${name#fuzz_}" | wc -l) kept, $added merged"
	else
		echo "not ok $name found a crash (exit $rc): see $log"
		tail -n 40 "$log"
		failed=1
	fi
}

for t in "$@"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	run_one "$t" &
done
wait
for t in "$@"; do
	report_one "$t"
done
exit $failed
