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

# run_one LABEL CMD...: runs a test, counts its TAP lines.
run_one() {
	local label=$1 log ok notok rc start
	shift
	log="$logs/$(echo "$label" | tr '/ ' '__').log"
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	ok=$(grep -c '^ok ' "$log")
	notok=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		notok=1	# a crash or a setup failure counts as one failure
	fi
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		echo "FAIL $label ($ok ok, $notok failed, exit $rc, $(( $(date +%s) - start ))s): log $log"
		grep -E '^(not ok|#)' "$log" | head -40
		tail -n 30 "$log" | sed 's/^/    | /'
	else
		echo "ok   $label ($ok checks, $(( $(date +%s) - start ))s)"
		rm -f "$log"
	fi
}

for build in "$@"; do
	export REKEY_BIN="$PWD/$build/rekey"
	export REKEY_BUILD="$build"
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] && run_one "$build/unit/$(basename "$t")" "$t"
	done
	for t in tests/integration/test_*.py; do
		[ -f "$t" ] && run_one "$build/integration/$(basename "$t" .py)" python3 "$t"
	done
done

if [ "$fuzz_seconds" -gt 0 ]; then
	for f in build-fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		corpus=tests/fuzz/corpus/${name#fuzz_}
		work=$(mktemp -d)
		run_one "fuzz/$name" tests/lib/fuzz-one.sh "$f" "$corpus" "$work" "$fuzz_seconds"
		rm -rf "$work"
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
