#!/bin/bash
# Runs every test against each build directory given, and the fuzz targets
# for a bounded time.  Each test prints TAP ("ok N - ..." / "not ok N - ...");
# this script counts those lines and ends with "N passed, N failed".
# A test's output is kept (in $TEST_LOGS) only when it fails.
set -u
cd "$(dirname "$0")/.."
fuzz_seconds=0
if [ "${1:-}" = "--fuzz-seconds" ]; then
	fuzz_seconds=$2
	shift 2
fi
[ $# -gt 0 ] || set -- build
logs=${TEST_LOGS:-$(mktemp -d /tmp/rekey-tests.XXXXXX)}
mkdir -p "$logs"
passed=0
failed=0
export PYTHONDONTWRITEBYTECODE=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0

log_of() {
	echo "$logs/$(echo "$1" | tr '/ ' '__').log"
}

# tally LABEL RC SECONDS: counts the TAP lines of a finished test's log.
tally() {
	local label=$1 rc=$2 secs=$3 log ok notok
	log=$(log_of "$label")
	ok=$(grep -c '^ok ' "$log")
	notok=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		notok=1	# a crash or a setup failure counts as one failure
	fi
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		echo "FAIL $label ($ok ok, $notok failed, exit $rc, ${secs}s): log $log"
		grep -E '^(not ok|#)' "$log" | head -40
		tail -n 30 "$log" | sed 's/^/    | /'
	else
		echo "ok   $label ($ok checks, ${secs}s)"
		rm -f "$log"
	fi
}

# run_one LABEL CMD...: runs a test, counts its TAP lines.
run_one() {
	local label=$1 rc start
	shift
	start=$(date +%s)
	"$@" >"$(log_of "$label")" 2>&1
	rc=$?
	tally "$label" "$rc" $(( $(date +%s) - start ))
}

# run_build BUILD: every test of one build, one after the other; its counts go
# to $logs/BUILD.counts for the total.
# Starts one test in the background, at most $jobs at a time; its exit code and
# seconds go to its log's .rc file for tally_started.
start_one() {
	local label=$1
	shift
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	(
		start=$(date +%s)
		"$@" >"$(log_of "$label")" 2>&1
		echo "$? $(( $(date +%s) - start ))" >"$(log_of "$label").rc"
	) &
}

# Tallies the tests start_one started, in the order they were started.
tally_started() {
	local label rc secs
	wait
	for label in "$@"; do
		read -r rc secs <"$(log_of "$label").rc"
		rm -f "$(log_of "$label").rc"
		tally "$label" "$rc" "$secs"
	done
}

# What runs a second time against PostgreSQL (labelled pg:).
PG_UNIT="test_store test_store_retention test_journal test_storm"
PG_INTEGRATION="test_intake test_crash test_rotation_crash test_storm test_diagnosis test_notify test_cli_no_store test_reseal"

# One build's tests, REKEY_TEST_JOBS (2) at a time: most of an integration
# test's time is spent waiting (for the daemon, the fakes, a deadline).
run_build() {
	local build=$1 t label
	local labels=()
	local jobs=${REKEY_TEST_JOBS:-2}
	passed=0
	failed=0
	export REKEY_BIN="$PWD/$build/rekey"
	export REKEY_BUILD="$build"
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		label="$build/unit/$(basename "$t")"
		labels+=("$label")
		start_one "$label" "$t"
	done
	for t in tests/integration/test_*.py; do
		[ -f "$t" ] || continue
		label="$build/integration/$(basename "$t" .py)"
		labels+=("$label")
		start_one "$label" python3 "$t"
	done
	# The store's unit suites and the tests that matter most, again against
	# PostgreSQL: a throwaway cluster per test (tests/lib/pg.py), a database
	# per daemon.
	for t in $PG_UNIT; do
		[ -x "$build/tests/$t" ] || continue
		label="$build/pg:unit/$t"
		labels+=("$label")
		start_one "$label" python3 tests/lib/pg.py run -- "$build/tests/$t"
	done
	for t in $PG_INTEGRATION; do
		label="$build/pg:integration/$t"
		labels+=("$label")
		start_one "$label" env REKEY_TEST_STORE=pg python3 "tests/integration/$t.py"
	done
	tally_started "${labels[@]}"
	echo "$passed $failed" >"$logs/$build.counts"
}

# The builds run side by side (REKEY_TEST_SERIAL=1: one after the other): most
# integration tests wait on timers and peers, not on the CPU, and one build
# after the other took 25 minutes on 2 cores.  Each test has its own
# directory, ports and store, and each build's lines are printed together.
# The tree's own checks, once for both builds: the layering of src/ and its test.
run_one "tree/layers" tests/layers.sh
run_one "tree/layers-selftest" tests/layers-selftest.sh
tree_p=$passed
tree_f=$failed
passed=0
failed=0

if [ $# -gt 1 ] && [ "${REKEY_TEST_SERIAL:-0}" != 1 ]; then
	for build in "$@"; do
		run_build "$build" >"$logs/$build.out" 2>&1 &
	done
	wait
	for build in "$@"; do
		cat "$logs/$build.out"
		rm -f "$logs/$build.out"
	done
else
	for build in "$@"; do
		run_build "$build"
	done
fi
sum_p=$tree_p
sum_f=$tree_f
for build in "$@"; do
	read -r p f <"$logs/$build.counts"
	rm -f "$logs/$build.counts"
	sum_p=$((sum_p + p))
	sum_f=$((sum_f + f))
done
passed=$sum_p
failed=$sum_f

# The fuzz targets are single-threaded and time-bounded: one per core at a time.
if [ "$fuzz_seconds" -gt 0 ]; then
	cores=$(nproc 2>/dev/null || echo 2)
	names=()
	for f in build-fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		names+=("$name")
		while [ "$(jobs -rp | wc -l)" -ge "$cores" ]; do
			wait -n
		done
		(
			work=$(mktemp -d)
			start=$(date +%s)
			tests/lib/fuzz-one.sh "$f" "tests/fuzz/corpus/${name#fuzz_}" "$work" \
			    "$fuzz_seconds" >"$(log_of "fuzz/$name")" 2>&1
			echo "$? $(( $(date +%s) - start ))" >"$(log_of "fuzz/$name").rc"
			rm -rf "$work"
		) &
	done
	wait
	for name in "${names[@]}"; do
		read -r rc secs <"$(log_of "fuzz/$name").rc"
		rm -f "$(log_of "fuzz/$name").rc"
		tally "fuzz/$name" "$rc" "$secs"
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
