#!/bin/bash
# A/B of rekey builds on the intake: each binary in turn, ROUNDS times
# interleaved (A B A B ...), each on a fresh store with the same config, the
# same load generator and the same signed ~1 KB grant.expired bodies as
# intake.sh.  The machines here change speed by 2x within a day and rounds
# swing by +-15%: only the means of interleaved rounds say something, and a
# difference under ~10% says nothing.
#
#   tests/bench/ab.sh BIN_A BIN_B [BIN ...]
#
# A BIN may be a wrapper script (to set an environment variable, say).
# Prints one line per run ("BIN rps=... p99_ms=... cpu_us=...", cpu_us being
# the daemon's CPU time per request) and then each binary's means.
#
# Environment:
#   AB_ROUNDS       interleaved rounds (3)
#   AB_RUNS         measured runs per round, after one warm-up (2)
#   AB_REQUESTS     requests of each run (30000)
#   AB_WARMUP       warm-up requests on each fresh store (10000)
#   AB_CONNECTIONS  keep-alive connections (32)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${AB_ROUNDS:-3}
RUNS=${AB_RUNS:-2}
REQUESTS=${AB_REQUESTS:-30000}
WARMUP=${AB_WARMUP:-10000}
CONNECTIONS=${AB_CONNECTIONS:-32}
LOADGEN=$ROOT/build/bench/loadgen

die() { printf 'ab.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: tests/bench/ab.sh BIN_A BIN_B [BIN ...]"
for bin in "$@"; do
	[ -x "$bin" ] || die "$bin is not an executable"
done
"$ROOT/tests/bench/build-loadgen.sh" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/rekey-ab.XXXXXX")
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

sh "$ROOT/certs/make-certs.sh" "$work/certs" >/dev/null
(
	umask 077
	openssl rand -hex 32 >"$work/master_key"
	echo "ab-$(openssl rand -hex 16)" >"$work/webhook_secret"
)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/rekey.conf" <<EOF
[server]
listen = 127.0.0.1:$port
tls_cert = $work/certs/server.crt
tls_key = $work/certs/server.key
log_level = warn

[store]
url = sqlite:$work/var/rekey.db
master_key_file = $work/master_key

[app prod]
nylas_webhook_secret_file = $work/webhook_secret
EOF

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)

load() {
	"$LOADGEN" --host 127.0.0.1 --port "$port" --ca "$work/certs/ca.crt" \
		--path /webhooks/nylas/prod --secret-file "$work/webhook_secret" \
		--connections "$CONNECTIONS" --requests "$1" 2>/dev/null
}

# run BIN: a fresh store, the warm-up, then RUNS measured runs.
run() {
	local bin=$1 line t0 t1 _
	rm -rf "$work/var"
	"$bin" serve -c "$work/rekey.conf" >>"$work/rekey.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do
		curl -sf -o /dev/null --max-time 2 --cacert "$work/certs/ca.crt" \
			--resolve "localhost:$port:127.0.0.1" "https://localhost:$port/healthz" && break
		kill -0 "$pid" 2>/dev/null || {
			tail -n 5 "$work/rekey.log" >&2
			die "$bin exited during start-up"
		}
		sleep 0.1
	done
	load "$WARMUP" >/dev/null || die "$bin: the warm-up failed"
	for _ in $(seq 1 "$RUNS"); do
		t0=$(cpu_ticks "$pid")
		line=$(load "$REQUESTS") || die "$bin: a run failed: $line"
		t1=$(cpu_ticks "$pid")
		printf '%s %s %s cpu_us=%.0f\n' "$bin" \
			"$(grep -o 'rps=[0-9.]*' <<<"$line")" "$(grep -o 'p99_ms=[0-9.]*' <<<"$line")" \
			"$(awk "BEGIN { print 1e6 * ($t1 - $t0) / $clk_tck / $REQUESTS }")" |
			tee -a "$work/runs"
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
}

# Not in a pipeline: run() keeps the daemon's pid for the cleanup.
for _ in $(seq 1 "$ROUNDS"); do
	for bin in "$@"; do
		run "$bin"
	done
done
printf '\nmeans of %s interleaved rounds x %s runs of %s requests:\n' "$ROUNDS" "$RUNS" "$REQUESTS"
awk '{ split($2, r, "="); split($3, p, "="); split($4, c, "=");
	n[$1]++; rps[$1] += r[2]; p99[$1] += p[2]; cpu[$1] += c[2]; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	END { for (i = 1; i <= k; i++) { b = order[i];
		printf "  %-40s rps %8.0f  p99_ms %6.2f  cpu_us %5.1f\n", b, rps[b] / n[b], p99[b] / n[b], cpu[b] / n[b] } }' \
	"$work/runs"
