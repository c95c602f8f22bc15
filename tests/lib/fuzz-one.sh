#!/bin/sh
# fuzz-one.sh TARGET CORPUS WORKDIR SECONDS: runs a libFuzzer target for a
# bounded time from the committed seeds (new inputs go to WORKDIR, so the
# committed corpus only changes by hand) and reports one TAP line.
target=$1 corpus=$2 work=$3 seconds=$4
if "$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" "$corpus" >"$work/out" 2>&1; then
	echo "ok 1 - $(basename "$target") ran ${seconds}s without a finding"
	grep -E 'stat::number_of_executed_units' "$work/out"
else
	echo "not ok 1 - $(basename "$target") found a crash"
	tail -n 60 "$work/out"
	exit 1
fi
