#!/bin/bash
# A/B of rekey builds on the intake: each binary in turn, ROUNDS times
# interleaved (A B A B ...), each on a fresh store with the same config, the
# same load generator and the same signed ~1 KB grant.expired bodies as
# intake.sh.  The machines here change speed by 2x within a day and rounds
# swing by +-15%: only the means of interleaved rounds say something, and a
# difference under ~10% says nothing.
#
#   tests/bench/ab.sh SPEC_A SPEC_B [SPEC ...]
#
# A SPEC is a rekey binary (or a wrapper script), BIN@N for that binary with
# intake_loops = N (through REKEY_SERVER_INTAKE_LOOPS; a binary older than
# intake_loops takes none), or nginx@N: the intake benchmark's nginx
# (tests/bench/nginx.conf.in, a fixed 200) with N worker processes.
# Prints one line per run ("SPEC rps=... p99_ms=... cpu_us=...", cpu_us being
# the server's CPU time per request, every process of it), then each SPEC's
# means, then each rekey SPEC's ratios to the nginx@N of the same N (1
# without @) from the same interleaved rounds: throughput, CPU per request.
#
#   tests/bench/ab.sh build-old/rekey build/rekey@1 build/rekey@2 nginx@1 nginx@2
#
# Environment:
#   AB_ROUNDS       interleaved rounds (3)
#   AB_RUNS         measured runs per round, after one warm-up (2)
#   AB_REQUESTS     requests of each run (30000)
#   AB_WARMUP       warm-up requests on each fresh store (10000)
#   AB_CONNECTIONS  keep-alive connections (32)
#   NGINX_BIN       /usr/sbin/nginx
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${AB_ROUNDS:-3}
RUNS=${AB_RUNS:-2}
REQUESTS=${AB_REQUESTS:-30000}
WARMUP=${AB_WARMUP:-10000}
CONNECTIONS=${AB_CONNECTIONS:-32}
LOADGEN=$ROOT/build/bench/loadgen
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

die() { printf 'ab.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: tests/bench/ab.sh SPEC_A SPEC_B [SPEC ...]"
# spec_bin SPEC, spec_n SPEC: the binary (or "nginx") and N (empty without @).
spec_bin() { printf '%s' "${1%@*}"; }
spec_n() { case $1 in *@*) printf '%s' "${1##*@}" ;; esac; }
for spec in "$@"; do
	bin=$(spec_bin "$spec")
	if [ "$bin" = nginx ]; then
		[ -x "$NGINX_BIN" ] || die "$NGINX_BIN not found (make deps installs nginx)"
		[ -n "$(spec_n "$spec")" ] || die "nginx needs its workers: nginx@N"
	else
		[ -x "$bin" ] || die "$bin is not an executable"
	fi
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

# nginx's config: the intake benchmark's, N workers filled in by start_nginx.
mkdir -p "$work/nginx"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"

# cpu_ticks PID: user + system clock ticks of the process and its children
# (nginx's workers; rekey's threads are in its own figure).
cpu_ticks() {
	local p total=0
	for p in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
	done
	echo "$total"
}
clk_tck=$(getconf CLK_TCK)

# start_server SPEC: starts rekey (fresh store) or nginx on $port, sets pid.
start_server() {
	local bin n
	bin=$(spec_bin "$1")
	n=$(spec_n "$1")
	if [ "$bin" = nginx ]; then
		sed -e "s|@PORT@|$port|g" -e "s|@CERT@|$work/certs/server.crt|g" \
			-e "s|@KEY@|$work/certs/server.key|g" -e "s|@PREFIX@|$work/nginx|g" \
			-e "s|@USER_LINE@|$user_line|g" -e "s|@NOFILE@|4096|g" \
			-e "s|@WORKER_CONNECTIONS@|1024|g" -e "s|@IDLE_TIMEOUT@|300|g" \
			-e "s|@WORKERS@|$n|g" "$ROOT/tests/bench/nginx.conf.in" >"$work/nginx/nginx.conf"
		"$NGINX_BIN" -c "$work/nginx/nginx.conf" -p "$work/nginx/" \
			-e "$work/nginx/error.log" >>"$work/nginx/stderr.log" 2>&1 &
	elif [ -n "$n" ]; then
		REKEY_SERVER_INTAKE_LOOPS=$n "$bin" serve -c "$work/rekey.conf" >>"$work/rekey.log" 2>&1 &
	else
		"$bin" serve -c "$work/rekey.conf" >>"$work/rekey.log" 2>&1 &
	fi
	pid=$!
}

load() {
	"$LOADGEN" --host 127.0.0.1 --port "$port" --ca "$work/certs/ca.crt" \
		--path /webhooks/nylas/prod --secret-file "$work/webhook_secret" \
		--connections "$CONNECTIONS" --requests "$1" 2>/dev/null
}

# run SPEC: a fresh store, the warm-up, then RUNS measured runs.
run() {
	local bin=$1 line t0 t1 _
	rm -rf "$work/var"
	start_server "$bin"
	for _ in $(seq 1 200); do
		curl -sf -o /dev/null --max-time 2 --cacert "$work/certs/ca.crt" \
			--resolve "localhost:$port:127.0.0.1" "https://localhost:$port/healthz" && break
		kill -0 "$pid" 2>/dev/null || {
			tail -n 5 "$work/rekey.log" "$work/nginx/stderr.log" >&2
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
printf '\nmeans of %s interleaved rounds x %s runs of %s requests, %s connections:\n' \
	"$ROUNDS" "$RUNS" "$REQUESTS" "$CONNECTIONS"
awk '{ split($2, r, "="); split($3, p, "="); split($4, c, "=");
	n[$1]++; rps[$1] += r[2]; p99[$1] += p[2]; cpu[$1] += c[2]; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	END { for (i = 1; i <= k; i++) { b = order[i];
		printf "  %-40s rps %8.0f  p99_ms %6.2f  cpu_us %5.1f\n", b, rps[b] / n[b], p99[b] / n[b], cpu[b] / n[b] } }' \
	"$work/runs" | tee "$work/means"
# Ratios to nginx with as many workers as rekey has loops (a binary without @N: 1).
if grep -q '^  nginx@' "$work/means"; then
	printf '\nratios to nginx with worker_processes = N, from the same rounds:\n'
	awk '{ spec = $1; rps[spec] = $3; p99[spec] = $5; cpu[spec] = $7; order[++k] = spec }
		END { for (i = 1; i <= k; i++) { s = order[i]; if (s ~ /^nginx@/) continue;
			n = (s ~ /@[0-9]+$/) ? substr(s, match(s, /@[0-9]+$/) + 1) : 1; ng = "nginx@" n;
			if (!(ng in rps)) { printf "  %-40s (no %s in this run)\n", s, ng; continue }
			printf "  %-40s vs %-8s req/s %.2f  cpu/request %.1fx (%.1f vs %.1f us)  p99 %.2f vs %.2f ms\n",
				s, ng, rps[s] / rps[ng], cpu[s] / cpu[ng], cpu[s], cpu[ng], p99[s], p99[ng] } }' \
		"$work/means"
fi
