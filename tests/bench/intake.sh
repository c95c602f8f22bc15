#!/bin/bash
# The intake benchmark: rekey against nginx answering a fixed 200, both over TLS
# on 127.0.0.1, in the same run, with the same load generator
# (tests/bench/loadgen.c: signed ~1 KB grant.expired bodies with distinct ids,
# HTTPS keep-alive, one request at a time per connection).  A last phase posts
# Microsoft Graph change notification batches of 100 items (distinct ids, the
# app's clientState) to /webhooks/graph/{app}, which nginx answers with a fixed
# 202 and rekey with its 202 once all 100 items are journaled: first paced at a
# fixed arrival rate (the ack-latency target is judged there), then as a closed
# loop on every connection (throughput at saturation).
#
#   tests/bench/intake.sh            (or: make bench)
#   BENCH_ONLY=graph tests/bench/intake.sh     (the Graph phase alone, quick)
#
# Environment:
#   REKEY_BIN          the daemon (default build/rekey)
#   NGINX_BIN          default /usr/sbin/nginx
#   BENCH_CONNECTIONS  keep-alive connections of the throughput runs (32)
#   BENCH_WARMUP       warm-up requests sent to each server first (2000)
#   BENCH_REQUESTS     requests of each measured run (100000)
#   BENCH_EVENTS       events rekey has received before its RSS is read (1000000)
#   BENCH_IDLE         idle TLS connections of the memory comparison (10000)
#   BENCH_GRAPH_RATE   batches of 100 a second of the paced Graph run (200,
#                      that is 20,000 notifications a second)
#   BENCH_GRAPH_PACED  batches of the paced Graph run (2000: 10 s at the rate)
#   BENCH_GRAPH_BATCHES  Graph batches of 100 of each closed-loop run (3000), after
#                      BENCH_WARMUP / 10 warm-up batches each
#   BENCH_ONLY         graph: only the Graph phase; nylas: everything but it
#   BENCH_IDS          scrambled (default): the event, grant and user ids are
#                      GUIDs in no order, as the providers' are; sequential:
#                      a run prefix and a counter, which every index appends to
#                      (the shape of the figures before 2026-12-06).  The
#                      throughput phase also runs rekey once with the other shape.
#   BENCH_PG           0: skip the PostgreSQL run (default 1: after the SQLite
#                      throughput run, the same load against rekey on a
#                      throwaway PostgreSQL cluster, tests/lib/pg.py, fsync on)
#   BENCH_KEEP=1       keep the work directory (certificates, configs, logs, store)
#
# It prints figures and PASS/MISS next to each target but never fails on a
# target: machines are noisy.  It does fail (exit 1) when something is broken:
# a server does not start, a run gets no 200 (202) at all, or the store does not
# hold exactly one event per 200 and 100 per 202 that rekey answered.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REKEY_BIN=${REKEY_BIN:-$ROOT/build/rekey}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
WARMUP=${BENCH_WARMUP:-2000}
REQUESTS=${BENCH_REQUESTS:-100000}
EVENTS=${BENCH_EVENTS:-1000000}
IDLE=${BENCH_IDLE:-10000}
GRAPH_BATCHES=${BENCH_GRAPH_BATCHES:-3000}
GRAPH_RATE=${BENCH_GRAPH_RATE:-200}
GRAPH_PACED=${BENCH_GRAPH_PACED:-2000}
ONLY=${BENCH_ONLY:-}
IDS=${BENCH_IDS:-scrambled}
case $IDS in scrambled) OTHER_IDS=sequential ;; sequential) OTHER_IDS=scrambled ;;
	*) echo "intake.sh: BENCH_IDS is scrambled or sequential" >&2; exit 2 ;; esac
# Both servers keep a silent connection this long (rekey request_timeout,
# nginx client_header_timeout), far longer than the idle measurement takes.
IDLE_TIMEOUT=300
# How long a server gets to start, and the idle connections to open.
START_WAIT=20
IDLE_WAIT=300
# How long the Graph worker gets to work off the warm-up's events before the
# measured runs, so that it does not compete with them.
GRAPH_DRAIN_WAIT=120
# The targets of the issue.
TARGET_RATIO=0.5
# rekey's CPU per durable webhook against nginx's per request.
TARGET_CPU_FACTOR=3
TARGET_P99_MS=5
TARGET_RSS_MIB=30
TARGET_IDLE_RATIO=1.5
# PostgreSQL against SQLite, in the same run: rate at least this share, p99 at most this factor.
TARGET_PG_RATIO=0.6
TARGET_PG_P99_FACTOR=2
PG=${BENCH_PG:-1}

LOADGEN=$ROOT/build/bench/loadgen
STORE_FLOOR=$ROOT/build/bench/store_floor
WEBHOOK_PATH=/webhooks/nylas/prod
GRAPH_PATH=/webhooks/graph/prod
GRAPH_BATCH=100
work=""
rekey_pid=""
nginx_pid=""
idle_pid=""
pg_pid=""
pgrekey_pid=""
cores_pid=""
cores_nginx_pid=""
fake_pid=""
failed=1

say() { printf '%s\n' "$*"; }
die() {
	printf 'intake.sh: %s\n' "$*" >&2
	exit 1
}

for v in CONNECTIONS WARMUP REQUESTS EVENTS IDLE GRAPH_BATCHES GRAPH_RATE GRAPH_PACED; do
	case ${!v} in
	'' | *[!0-9]*) die "BENCH_$v=${!v}: want a whole number" ;;
	esac
done
if [ "$CONNECTIONS" -lt 1 ] || [ "$REQUESTS" -lt 1 ] || [ "$IDLE" -lt 1 ] ||
	[ "$GRAPH_BATCHES" -lt 1 ] || [ "$GRAPH_RATE" -lt 1 ] || [ "$GRAPH_PACED" -lt 1 ]; then
	die "BENCH_CONNECTIONS, BENCH_REQUESTS, BENCH_IDLE and the BENCH_GRAPH_* counts must be at least 1"
fi
case $ONLY in
'' | nylas | graph) ;;
*) die "BENCH_ONLY=$ONLY: want graph or nylas" ;;
esac
GRAPH_WARMUP=$((WARMUP / 10 > 0 ? WARMUP / 10 : 1))

# want PHASE: whether BENCH_ONLY lets the phase (nylas or graph) run.
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# stop PID: SIGTERM, then SIGKILL after 30 s; waits for it either way.
stop() {
	local pid=$1 _
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	stop "$idle_pid"
	stop "$rekey_pid"
	stop "$pgrekey_pid"
	stop "$pg_pid"
	stop "$nginx_pid"
	stop "$cores_pid"
	stop "$cores_nginx_pid"
	stop "$fake_pid"
	[ -n "$work" ] && [ -d "$work" ] || return 0
	if [ "${BENCH_KEEP:-}" = 1 ]; then
		say "work directory kept: $work"
	elif [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
		# Keep the logs of a failed run, not the (large) store or the keys.
		rm -rf "${work:?}/var" "${work:?}/certs" "${work:?}/master_key" \
			"${work:?}/webhook_secret" "${work:?}/graph_client_state"
		say "logs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

for tool in cc pkg-config curl sqlite3 python3 openssl node; do
	command -v "$tool" >/dev/null || die "$tool not found (make deps installs it)"
done
[ -x "$NGINX_BIN" ] || die "$NGINX_BIN not found (make deps installs nginx)"
[ -x "$REKEY_BIN" ] || die "$REKEY_BIN not found: run make first"

# --- the load generator
"$ROOT/tests/bench/build-loadgen.sh" >/dev/null
make -s -C "$ROOT" "$STORE_FLOOR" >/dev/null

# --- descriptors: 10,000 idle connections need more than the usual 1024
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$IDLE" -gt $((nofile - 256)) ]; then
	say "note: open-file limit is $nofile; BENCH_IDLE lowered from $IDLE to $((nofile - 256))"
	IDLE=$((nofile - 256))
fi
[ "$nofile" = unlimited ] && nofile=1048576

work=$(mktemp -d "${TMPDIR:-/tmp}/rekey-bench.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/var" "$work/nginx"
sh "$ROOT/certs/make-certs.sh" "$work/certs"

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_https PORT PID NAME LOG: waits until GET /healthz answers over TLS.
wait_https() {
	local port=$1 pid=$2 name=$3 log=$4 _
	for _ in $(seq 1 $((START_WAIT * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$log" >&2 || true
			die "$name exited during start-up"
		fi
		if curl -sf -o /dev/null --max-time 2 --cacert "$work/certs/ca.crt" \
			--resolve "localhost:$port:127.0.0.1" "https://localhost:$port/healthz"; then
			return 0
		fi
		sleep 0.1
	done
	cat "$log" >&2 || true
	die "$name did not answer on port $port within $START_WAIT s"
}

# --- the Microsoft identity platform (tests/fakes/fake.js): the app's in-use
# secret has ended, so the probe rekey makes of it answers AADSTS7000222 and
# every grant.expired of the run belongs to one secret_expired incident: the
# storm issue 22 is about, whose events the journal's writer settles under the
# correlator's permit (state/storm.h).  rotation_mode = approve: the rotation
# the incident plans waits (no rotator identity here).
tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
client=11111111-2222-3333-4444-555555555555
secret="cur8Q~$(openssl rand -hex 17)"
cat >"$work/fake-state.json" <<FAKE
{"tenants": {"$tenant": {"apps": {"$client": {"display_name": "Nylas connector",
  "passwords": [{"keyId": "6f1c6c1e-1111-2222-3333-444444444444",
                 "displayName": "in use", "secretText": "$secret",
                 "startDateTime": "2024-01-01T00:00:00Z",
                 "endDateTime": "2025-01-01T00:00:00Z"}]}}}}}
FAKE
node "$ROOT/tests/fakes/fake.js" --certs "$work/certs" --state "$work/fake-state.json" \
	>"$work/fake.ports" 2>"$work/fake.log" </dev/null &
fake_pid=$!
for _ in $(seq 1 100); do
	grep -q identity "$work/fake.ports" 2>/dev/null && break
	kill -0 "$fake_pid" 2>/dev/null || { cat "$work/fake.log" >&2; die "the fakes exited"; }
	sleep 0.1
done
fake_port() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$work/fake.ports" "$1" || die "the fakes did not start: $(cat "$work/fake.log")"
}
identity_port=$(fake_port identity)
# The probe asks for a token for this Graph (the fake answers AADSTS500011 for another).
graph_port=$(fake_port graph)

# --- rekey: secrets, config, start
(
	umask 077
	printf '%s\n' "$secret" >"$work/current_secret"
	openssl rand -hex 32 >"$work/master_key"
	echo "bench-$(openssl rand -hex 16)" >"$work/webhook_secret"
	echo "bench$(openssl rand -hex 16)" >"$work/graph_client_state"
)
chmod 600 "$work/master_key" "$work/webhook_secret" "$work/graph_client_state" \
	"$work/current_secret"
rekey_port=$(free_port)
cat >"$work/rekey.conf" <<EOF
[server]
listen = 127.0.0.1:$rekey_port
tls_cert = $work/certs/server.crt
tls_key = $work/certs/server.key
log_level = warn
max_connections = 20000
# Every connection comes from this host, as from a proxy in front.
max_connections_per_ip = 20000
request_timeout = ${IDLE_TIMEOUT}s
# One loop against nginx's one worker: one core against one core (ab.sh
# compares N loops with N workers).
intake_loops = 1

[store]
url = sqlite:$work/var/rekey.db
master_key_file = $work/master_key

[app prod]
nylas_webhook_secret_file = $work/webhook_secret
# No rotator identity: the Graph worker marks each event "no_graph_client"
# without calling out, which is background work beside the intake.
graph_client_state_file = $work/graph_client_state
azure_tenant_id = $tenant
azure_client_id = $client
azure_login_base = https://127.0.0.1:$identity_port
graph_base = https://127.0.0.1:$graph_port/v1.0
current_secret_file = $work/current_secret
rotation_mode = approve

[outbound]
ca_file = $work/certs/ca.crt
EOF
(cd "$work" && exec "$REKEY_BIN" serve -c "$work/rekey.conf") >"$work/rekey.log" 2>&1 &
rekey_pid=$!
wait_https "$rekey_port" "$rekey_pid" rekey "$work/rekey.log"

# --- nginx: the same certificate, a fixed 200
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
# nginx closes idle connections once fewer than 1/16 of worker_connections are
# free, so leave it more than that to spare.
worker_connections=$((IDLE + IDLE / 8 + 256))
[ "$worker_connections" -gt "$nofile" ] && worker_connections=$nofile

# start_nginx WORKERS PORT PREFIX: nginx with WORKERS worker processes on PORT,
# its files under PREFIX; sets started_pid (the master) and started_workers.
start_nginx() {
	local workers=$1 port=$2 prefix=$3
	mkdir -p "$prefix"
	sed -e "s|@PORT@|$port|g" -e "s|@CERT@|$work/certs/server.crt|g" \
		-e "s|@KEY@|$work/certs/server.key|g" -e "s|@PREFIX@|$prefix|g" \
		-e "s|@USER_LINE@|$user_line|g" -e "s|@NOFILE@|$nofile|g" \
		-e "s|@WORKER_CONNECTIONS@|$worker_connections|g" \
		-e "s|@IDLE_TIMEOUT@|$IDLE_TIMEOUT|g" -e "s|@WORKERS@|$workers|g" \
		"$ROOT/tests/bench/nginx.conf.in" >"$prefix/nginx.conf"
	grep -v '^[[:space:]]*#' "$prefix/nginx.conf" | grep -q '@[A-Z_]*@' &&
		die "nginx.conf.in has a placeholder intake.sh does not fill"
	"$NGINX_BIN" -c "$prefix/nginx.conf" -p "$prefix/" -e "$prefix/error.log" \
		>"$prefix/stderr.log" 2>&1 &
	started_pid=$!
	wait_https "$port" "$started_pid" nginx "$prefix/error.log"
	for _ in $(seq 1 50); do
		started_workers=$(pgrep -P "$started_pid" | tr '\n' ' ')
		[ "$(wc -w <<<"$started_workers")" -ge "$workers" ] && break
		sleep 0.1
	done
	[ -n "$started_workers" ] || die "nginx has no worker process"
}

nginx_port=$(free_port)
start_nginx 1 "$nginx_port" "$work/nginx"
nginx_pid=$started_pid
nginx_worker=${started_workers%% *}

# --- helpers for figures

# field LINE KEY: the value of KEY=value in a loadgen result line.
field() {
	local kv
	for kv in $1; do
		[ "${kv%%=*}" = "$2" ] && {
			printf '%s\n' "${kv#*=}"
			return 0
		}
	done
	printf '?\n'
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID...: user + system clock ticks the processes have used, summed.
cpu_ticks() {
	local p
	for p in "$@"; do cat "/proc/$p/stat"; done |
		awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
clk_tck=$(getconf CLK_TCK)

# thread_stats PID: one line per thread name of a process, "name ticks syscalls
# written": user + system clock ticks, read- and write-type system calls (syscr +
# syscw of /proc/PID/task/TID/io) and bytes written (wchar; 0 where that file is
# not readable), threads of one name summed.  rekey names its threads (rk-intake, rk-journal, rk-checkpoint;
# the main loop is "rekey").
thread_stats() {
	local t
	for t in /proc/"$1"/task/*; do
		printf '%s %s %s\n' "$(cat "$t/comm" 2>/dev/null || echo gone)" \
			"$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "$t/stat" 2>/dev/null || echo 0)" \
			"$(awk '/^sysc[rw]:/ { n += $2 } /^wchar:/ { w = $2 }
				END { print n + 0, w + 0 }' "$t/io" 2>/dev/null || echo 0 0)"
	done | awk '{ t[$1] += $2; s[$1] += $3; w[$1] += $4 }
		END { for (n in t) print n, t[n], s[n], w[n] }' | sort
}

# thread_split S0 S1 N: each thread's CPU us, system calls and KiB written (to files
# and sockets) per request between two thread_stats of N requests, with what each
# thread does.
thread_split() {
	awk -v n="$3" -v hz="$clk_tck" '
		BEGIN {
			role["rk-intake"] = "intake loops: TLS, HTTP, verify, parse, hand off"
			role["rk-journal"] = "journal writer: the store commits"
			role["rk-checkpoint"] = "checkpointer: WAL into the database"
			role["rekey"] = "main loop: correlator, Graph worker, engines"
		}
		FNR == NR { t0[$1] = $2; s0[$1] = $3; w0[$1] = $4; next }
		{
			us = 1e6 * ($2 - t0[$1]) / hz / n
			if (us < 0.5 && $3 == s0[$1])
				next
			printf "    %-14s %6.0f us %6.1f syscalls %6.1f KiB   (%s)\n", $1, us,
				($3 - s0[$1]) / n, ($4 - w0[$1]) / n / 1024,
				($1 in role) ? role[$1] : "other"
		}' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# calc EXPR: floating-point arithmetic through awk.
calc() { awk "BEGIN { print ($*) }"; }
# verdict OK: PASS or MISS.
verdict() { if [ "$1" = 1 ]; then printf PASS; else printf MISS; fi; }

rekey_sent=0
rekey_ok=0
graph_ok=0

# commit_stats [PORT]: "commits events commit_seconds acks ack_seconds
# queue_seconds answer_seconds acks_within_5ms commits_within_2.5ms
# commits_within_5ms" so far (the last three from the histograms' buckets, -1
# when rekey no longer exports a bucket at that bound),
# from rekey's /metrics (zeros when it cannot be read: the figure is
# informative only).
commit_stats() {
	local port=${1:-$rekey_port}
	{ curl -sf --max-time 5 --cacert "$work/certs/ca.crt" \
		--resolve "localhost:$port:127.0.0.1" "https://localhost:$port/metrics" ||
		true; } |
		awk '/^rekey_store_commit_seconds_count/ { c = $2 }
			/^rekey_store_commit_seconds_sum/ { s = $2 }
			/^rekey_store_commit_batch_size_sum/ { e = $2 }
			/^rekey_webhook_ack_seconds_count/ { ac = $2 }
			/^rekey_webhook_ack_seconds_sum/ { as = $2 }
			/^rekey_journal_queue_seconds_total/ { q = $2 }
			/^rekey_journal_answer_seconds_total/ { aw = $2 }
			/^rekey_webhook_ack_seconds_bucket\{le="0.005"\}/ { a5 = $2 }
			/^rekey_store_commit_seconds_bucket\{le="0.0025"\}/ { c25 = $2 }
			/^rekey_store_commit_seconds_bucket\{le="0.005"\}/ { c5 = $2 }
			END { print c + 0, e + 0, s + 0, ac + 0, as + 0, q + 0, aw + 0,
				(a5 == "" ? -1 : a5), (c25 == "" ? -1 : c25), (c5 == "" ? -1 : c5) }'
}

# load NAME PORT PID REQUESTS [graph [RATE]] (PID: one, or several space-separated): one loadgen run of signed Nylas
# events (or of Graph batches), a closed loop on every connection or, with RATE,
# paced at RATE requests a second; sets run_line, run_cpu (the server's CPU seconds during
# the run) and run_lg_cpu and, for rekey, counts what was sent and answered.
load() {
	local name=$1 port=$2 pid=$3 n=$4 kind=${5:-nylas} rate=${6:-} t0 t1 want_status=200 err
	local -a body_args=(--path "$WEBHOOK_PATH" --secret-file "$work/webhook_secret"
		--ids "${LOAD_IDS:-$IDS}" ${rate:+--rate "$rate"})
	err=$work/loadgen-$name.err
	if [ "$kind" = graph ]; then
		body_args=(--path "$GRAPH_PATH" --graph-batch "$GRAPH_BATCH"
			--client-state-file "$work/graph_client_state" --ids "${LOAD_IDS:-$IDS}"
			${rate:+--rate "$rate"})
		want_status=202
		err=$work/loadgen-$name-graph.err
	fi
	t0=$(cpu_ticks $pid)
	run_line=$("$LOADGEN" --host 127.0.0.1 --port "$port" --ca "$work/certs/ca.crt" \
		"${body_args[@]}" --connections "$CONNECTIONS" --requests "$n" 2>"$err") || {
		cat "$err" >&2
		die "loadgen against $name failed: ${run_line:-no result}"
	}
	t1=$(cpu_ticks $pid)
	run_cpu=$(calc "($t1 - $t0) / $clk_tck")
	run_lg_cpu=$(awk '/cpu user/ { print $4 + $7 }' "$err")
	if [ "$name" = rekey ] && [ "$kind" = graph ]; then
		graph_ok=$((graph_ok + $(field "$run_line" ok)))
	elif [ "$name" = rekey ]; then
		rekey_sent=$((rekey_sent + $(field "$run_line" requests)))
		rekey_ok=$((rekey_ok + $(field "$run_line" ok)))
	fi
	if [ "$(field "$run_line" ok)" != "$n" ]; then
		say "  $name: not every request was answered $want_status: $run_line"
		grep -v 'cpu user' "$err" | sed 's/^/    /' || true
	fi
}

# graph_backlog: the Graph events rekey's worker has not processed yet.
graph_backlog() {
	sqlite3 -cmd ".timeout 5000" "$work/var/rekey.db" \
		"SELECT count(*) FROM events WHERE source = 'graph' AND processed_at IS NULL"
}

# graph_drain: waits up to GRAPH_DRAIN_WAIT s for the Graph worker to catch up.
graph_drain() {
	local _
	for _ in $(seq 1 $((GRAPH_DRAIN_WAIT * 5))); do
		[ "$(graph_backlog)" = 0 ] && return 0
		sleep 0.2
	done
	say "  note: the Graph worker still had $(graph_backlog) events to process"
}

# commit_line M0 M1 [SECONDS NGINX_RPS]: the store commits between two
# commit_stats; with the run's length and nginx's rate, what they allow: the
# journal's writer commits one batch at a time, so events a commit over the
# time a commit takes bounds the rate, however little CPU the rest uses.
commit_line() {
	local c0 e0 s0 c1 e1 s1 a0 as0 a1 as1 q0 q1 w0 w1 most
	local f0 f1 k0 k1 l0 l1
	read -r c0 e0 s0 a0 as0 q0 w0 f0 k0 l0 <<<"$1"
	read -r c1 e1 s1 a1 as1 q1 w1 f1 k1 l1 <<<"$2"
	[ "$c1" -gt "$c0" ] || return 0
	printf '  %-26s %12s   (%.1f events each, %.2f ms each on average)\n' "rekey commits" \
		"$((c1 - c0))" "$(calc "($e1 - $e0) / ($c1 - $c0)")" \
		"$(calc "1000 * ($s1 - $s0) / ($c1 - $c0)")"
	# From the request head read to its answer queued, and where an event's
	# time went (means per event: a Graph batch's 100 wait together): waiting
	# for the writer to finish the commit before (it commits one batch at a
	# time), its own commit, the answer waiting for the loop.  The
	# rest of the client's latency is TLS, the loop's turns and the load
	# generator.
	if [ "${a1:-0}" -gt "${a0:-0}" ]; then
		printf '  %-26s %12.3f   (rekey_webhook_ack_seconds: request head read to answer queued)\n' \
			"rekey ack mean ms" "$(calc "1000 * ($as1 - $as0) / ($a1 - $a0)")"
		printf '  %-26s %12s   (waiting for the writer %.3f, a commit %.3f, the answer waiting for the loop %.3f)\n' \
			"  of which, ms" "" "$(calc "1000 * ($q1 - $q0) / ($e1 - $e0)")" \
			"$(calc "1000 * ($s1 - $s0) / ($c1 - $c0)")" \
			"$(calc "1000 * ($w1 - $w0) / ($e1 - $e0)")"
		# What bounds the p99: the writer commits one batch at a time, so
		# a commit that is slow holds every answer waiting behind it.  The
		# p99 target needs 99% within 5 ms at the client, TLS and the
		# loop's turns included: rekey's own clock is the least it can be.
		if [ "${f1:--1}" -lt 0 ] || [ "${k1:--1}" -lt 0 ] || [ "${l1:--1}" -lt 0 ]; then
			say "  (no histogram bucket at 2.5 or 5 ms in rekey's /metrics: the tail is not shown)"
		else
			printf '  %-26s %11.2f%%   (by rekey'"'"'s own clock; commits over 2.5 ms %s and over 5 ms %s of %s:\n' \
				"acks over 5 ms" "$(calc "100 * (($a1 - $a0) - ($f1 - $f0)) / ($a1 - $a0)")" \
				"$(((c1 - c0) - (k1 - k0)))" "$(((c1 - c0) - (l1 - l0)))" "$((c1 - c0))"
			printf '  %-26s %12s    each holds every answer waiting behind it)\n' "" ""
		fi
	fi
	[ -n "${3:-}" ] && [ "$(calc "$s1 > $s0")" = 1 ] || return 0
	most=$(calc "($e1 - $e0) / ($s1 - $s0)")
	printf '  %-26s %11.0f%%   (committing; at that size and time a commit: at most %.0f req/s, ratio %.2f)\n' \
		"journal writer busy" "$(calc "100 * ($s1 - $s0) / $3")" "$most" "$(calc "$most / $4")"
}

say "rekey intake benchmark: $(nproc) CPUs, $(uname -r)"
say "  rekey answers on one intake loop (its store commits on another thread) and nginx runs 1 worker;"
say "  the load generator (single-threaded) runs on the same machine and competes for CPU."

# idle NAME PORT PID: opens IDLE silent TLS connections to a server and sets
# idle_before/idle_after (its RSS in kB without and with them) and idle_open
# (how many were still open once the RSS had been read).
idle() {
	local name=$1 port=$2 pid=$3 out=$work/idle-$1.out _
	idle_before=$(rss_kb "$pid")
	"$LOADGEN" --host 127.0.0.1 --port "$port" --ca "$work/certs/ca.crt" --idle "$IDLE" \
		>"$out" 2>"$work/idle-$name.err" &
	idle_pid=$!
	for _ in $(seq 1 $((IDLE_WAIT * 10))); do
		grep -q '^idle_connected=' "$out" && break
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^idle_connected=' "$out" || {
		cat "$work/idle-$name.err" >&2
		die "the idle connections to $name did not open within $IDLE_WAIT s"
	}
	# Let the server finish what the last handshakes started.
	sleep 1
	idle_after=$(rss_kb "$pid")
	stop "$idle_pid"
	idle_pid=""
	idle_connected=$(sed -n 's/^idle_connected=//p' "$out")
	idle_open=$(sed -n 's/^idle_open=//p' "$out")
}

# ratio_limits M0 M1: what bounds the ratio target, from this run's figures
# (M0 and M1 are the commit_stats around rekey's run).  The CPU that the
# servers and the load generator share, against what rekey spends and what
# two of its parts cost alone: TLS and HTTP (POSTs to /healthz, nothing
# stored) and its store (store_floor, at the batch size rekey reached); then
# the disk's fdatasync, which every 200 waits for.
ratio_limits() {
	local want_rps lg_us budget_us r_us n_us h_line h0 h1 batch f_line f_events sync_line sync_ms bound
	local c0 e0 c1 e1 http_us=0 _
	want_rps=$(calc "$TARGET_RATIO * $n_rps")
	r_us=$(calc "1e6 * $r_cpu / $(field "$r_line" ok)")
	n_us=$(calc "1e6 * $n_cpu / $(field "$n_line" ok)")
	lg_us=$(calc "1e6 * $r_lg / $(field "$r_line" ok)")
	budget_us=$(calc "($(nproc) * 1e6 - $lg_us * $want_rps) / $want_rps")
	say "  what the ratio target needs (rekey at $(printf '%.0f' "$want_rps") req/s):"
	printf '  %-26s %12.0f %12.0f\n' "server CPU us per request" "$r_us" "$n_us"
	printf '  %-26s %12.0f   (%s CPUs less the load generator'"'"'s %.0f us a request)\n' \
		"CPU budget us per request" "$budget_us" "$(nproc)" "$lg_us"
	printf '  %-26s %12.2f   target <= %s   %s\n' "CPU per request rekey/nginx" \
		"$(calc "$r_us / $n_us")" "$TARGET_CPU_FACTOR" \
		"$(verdict "$(calc "$r_us <= $TARGET_CPU_FACTOR * $n_us")")"
	say "  rekey's CPU, read/write system calls and KiB written per request, by thread:"
	thread_split "$ts0" "$ts1" "$(field "$r_line" ok)"
	h0=$(cpu_ticks "$rekey_pid")
	hs0=$(thread_stats "$rekey_pid")
	h_line=$("$LOADGEN" --host 127.0.0.1 --port "$rekey_port" --ca "$work/certs/ca.crt" \
		--path /healthz --secret-file "$work/webhook_secret" --connections "$CONNECTIONS" \
		--requests "$REQUESTS" 2>/dev/null) || h_line=""
	h1=$(cpu_ticks "$rekey_pid")
	hs1=$(thread_stats "$rekey_pid")
	if [ "$(field "$h_line" ok)" = "$REQUESTS" ]; then
		http_us=$(calc "1e6 * ($h1 - $h0) / $clk_tck / $REQUESTS")
		printf '  %-26s %12.0f   (the same POSTs to /healthz: %s req/s, nothing stored)\n' \
			"  of which TLS + HTTP" "$http_us" "$(field "$h_line" rps)"
		thread_split "$hs0" "$hs1" "$REQUESTS" | sed 's/^/  /'
	fi
	read -r c0 e0 _ <<<"$1"
	read -r c1 e1 _ <<<"$2"
	batch=$(calc "$c1 > $c0 ? int(($e1 - $e0) / ($c1 - $c0) + 0.5) : 1")
	# As many events as rekey's store held by the end of its run: with ids in
	# no order a store's cost grows with its indexes (store_floor: 38-41 us an
	# event over 20,000 events, 62-77 over 100,000).
	f_events=$(( rekey_sent > 20000 ? rekey_sent : 20000 ))
	f_events=$(( f_events < 200000 ? f_events : 200000 ))
	f_line=$("$STORE_FLOOR" "$work/var/floor.db" "$f_events" "$batch" 2>/dev/null) || f_line=""
	if [ -n "$f_line" ]; then
		printf '  %-26s %12.0f   (store_floor: %s of a storm'"'"'s 1 KB events, each grant listed, in batches of %s, fsync, checkpoints)\n' \
			"  of which the store" "$(field "$f_line" cpu_us)" "$f_events" "$batch"
		# What bounds the CPU target: these two alone, before any of rekey's own work.
		printf '  %-26s %12.0f   (%.1fx nginx before any signature, parse, hand-off or correlation;\n' \
			"floor: TLS + HTTP + store" "$(calc "$http_us + $(field "$f_line" cpu_us)")" \
			"$(calc "($http_us + $(field "$f_line" cpu_us)) / $n_us")"
		printf '  %-26s %12s    the %sx target leaves %.0f us for them, rekey spends %.0f)\n' "" "" \
			"$TARGET_CPU_FACTOR" \
			"$(calc "$TARGET_CPU_FACTOR * $n_us - $http_us - $(field "$f_line" cpu_us)")" \
			"$(calc "$r_us - $http_us - $(field "$f_line" cpu_us)")"
	fi
	disk_bound "$1" "$2"
	sync_line=$(python3 "$ROOT/tests/bench/fsync.py" "$work/var") || return 0
	sync_ms=$(field "$sync_line" p50_ms)
	# Each request waits at least one whole fdatasync begun after it arrived,
	# on top of the time nginx needs for everything else.
	bound=$(calc "$CONNECTIONS / ($CONNECTIONS / $n_rps + $sync_ms / 1000)")
	printf '  %-26s %12s   (p99 %s ms; %s connections each waiting one: at most %.0f req/s, ratio %.2f)\n' \
		"fdatasync p50 ms" "$sync_ms" "$(field "$sync_line" p99_ms)" "$CONNECTIONS" \
		"$bound" "$(calc "$bound / $n_rps")"
}

# disk_bound M0 M1: what the disk allows the journal's writer.  Each commit
# appends its pages to the log and waits for fdatasync; how long that takes for
# a commit's bytes (from the writer's wchar over the run, ts0 and ts1) is
# measured alone on the same disk (fsync.py --kib), and with the events of a
# commit it bounds the rate: the writer commits one batch at a time.  With ids
# in no order each event dirties a leaf of three indexes, several KiB a
# commit's log carries for it.
disk_bound() {
	local c0 e0 c1 e1 w0 w1 kib line ms _
	read -r c0 e0 _ <<<"$1"
	read -r c1 e1 _ <<<"$2"
	w0=$(awk '$1 == "rk-journal" { print $4 }' <<<"$ts0")
	w1=$(awk '$1 == "rk-journal" { print $4 }' <<<"$ts1")
	[ "$c1" -gt "$c0" ] && [ -n "$w0" ] && [ -n "$w1" ] || return 0
	kib=$(calc "int(($w1 - $w0) / ($c1 - $c0) / 1024 + 0.5)")
	[ "$kib" -ge 1 ] || kib=1
	line=$(python3 "$ROOT/tests/bench/fsync.py" "$work/var" --kib "$kib" --syncs 300) || return 0
	ms=$(field "$line" p50_ms)
	printf '  %-26s %12s   (a commit'"'"'s log, %s KiB for %.1f events, alone on this disk: at most %.0f req/s)\n' \
		"log fdatasync p50 ms" "$ms" "$kib" "$(calc "($e1 - $e0) / ($c1 - $c0)")" \
		"$(calc "($e1 - $e0) / ($c1 - $c0) / $ms * 1000")"
}

# pg_phase: the throughput run again, against a second rekey whose store is a
# throwaway PostgreSQL cluster on this machine (synchronous_commit and fsync on);
# compared with nginx and with the SQLite rekey of the same run (r_line, n_line).
pg_phase() {
	local dir=$work/pg port line p_rps p_p99 stored warm_ok m0 m1 _
	mkdir -p "$dir"
	python3 "$ROOT/tests/lib/pg.py" serve "$dir" >"$work/pg.log" 2>&1 &
	pg_pid=$!
	for _ in $(seq 1 $((START_WAIT * 10))); do
		[ -s "$dir/socket_url" ] && break
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$dir/socket_url" ] || {
		cat "$work/pg.log" >&2
		die "the PostgreSQL cluster did not start"
	}
	port=$(free_port)
	sed -e "s|^listen = .*|listen = 127.0.0.1:$port|" \
		-e "s|^url = .*|url = $(cat "$dir/url")\npassword_file = $dir/pg_password|" \
		"$work/rekey.conf" >"$work/rekey-pg.conf"
	(cd "$work" && exec "$REKEY_BIN" serve -c "$work/rekey-pg.conf") >"$work/rekey-pg.log" 2>&1 &
	pgrekey_pid=$!
	wait_https "$port" "$pgrekey_pid" "rekey (PostgreSQL)" "$work/rekey-pg.log"
	load rekey-pg "$port" "$pgrekey_pid" "$WARMUP"
	warm_ok=$(field "$run_line" ok)
	m0=$(commit_stats "$port")
	load rekey-pg "$port" "$pgrekey_pid" "$REQUESTS"
	line=$run_line
	m1=$(commit_stats "$port")
	p_rps=$(field "$line" rps) p_p99=$(field "$line" p99_ms)
	say ""
	say "throughput on PostgreSQL: the same $REQUESTS requests to a second rekey whose store is"
	say "  a local PostgreSQL $(psql -X -At -d "$(cat "$dir/socket_url")" -c 'SHOW server_version' \
		2>/dev/null) (synchronous_commit on, fsync $(psql -X -At -d "$(cat "$dir/socket_url")" \
		-c 'SHOW fsync' 2>/dev/null)), over TCP on 127.0.0.1"
	printf '  %-26s %12s %12s %12s\n' "" "rekey pg" "rekey sqlite" nginx
	printf '  %-26s %12s %12s %12s\n' "requests/s (200s only)" "$p_rps" "$r_rps" "$n_rps"
	printf '  %-26s %12s %12s %12s\n' "p50 ms" "$(field "$line" p50_ms)" \
		"$(field "$r_line" p50_ms)" "$(field "$n_line" p50_ms)"
	printf '  %-26s %12s %12s %12s\n' "p99 ms" "$p_p99" "$r_p99" "$n_p99"
	printf '  %-26s %12s %12s %12s\n' "max ms" "$(field "$line" max_ms)" \
		"$(field "$r_line" max_ms)" "$(field "$n_line" max_ms)"
	printf '  %-26s %12s\n' "200s / errors" "$(field "$line" ok) / $(field "$line" errors)"
	printf '  %-26s %11.0f%%\n' "rekey CPU (of one core)" \
		"$(calc "100 * $run_cpu / $(field "$line" seconds)")"
	commit_line "$m0" "$m1"
	printf '  %-26s %12.2f\n' "ratio pg/nginx req/s" "$(calc "$n_rps > 0 ? $p_rps / $n_rps : 0")"
	printf '  %-26s %12.2f   target >= %s   %s\n' "ratio pg/sqlite req/s" \
		"$(calc "$r_rps > 0 ? $p_rps / $r_rps : 0")" "$TARGET_PG_RATIO" \
		"$(verdict "$(calc "$p_rps >= $TARGET_PG_RATIO * $r_rps")")"
	printf '  %-26s %12.2f   target <= %s   %s\n' "p99 pg/sqlite" \
		"$(calc "$r_p99 > 0 ? $p_p99 / $r_p99 : 0")" "$TARGET_PG_P99_FACTOR" \
		"$(verdict "$(calc "$p_p99 <= $TARGET_PG_P99_FACTOR * $r_p99")")"
	stop "$pgrekey_pid"
	pgrekey_pid=""
	stored=$(psql -X -At -d "$(cat "$dir/socket_url")" \
		-c "SELECT count(*) FROM events WHERE type = 'grant.expired'")
	if [ "$stored" = $((warm_ok + $(field "$line" ok))) ]; then
		say "  store: $stored grant.expired events in PostgreSQL, one per 200: OK"
	else
		say "  store: $stored grant.expired events in PostgreSQL, but" \
			"$((warm_ok + $(field "$line" ok))) answered 200: FAIL"
		exit 1
	fi
	stop "$pg_pid"
	pg_pid=""
}

# cores_phase: the throughput run again on every core: a rekey with intake_loops =
# nproc (its own fresh store) against an nginx with as many workers; the run above
# is N = 1.  Both answer the same load from the same load generator.
cores_phase() {
	local n dir=$work/cores port nport c_line k_line c_cpu k_cpu c_ok warm_ok stored m0 m1
	n=$(nproc)
	mkdir -p "$dir/var"
	port=$(free_port)
	sed -e "s|^listen = .*|listen = 127.0.0.1:$port|" -e "s|^intake_loops = .*|intake_loops = $n|" \
		-e "s|^url = sqlite:.*|url = sqlite:$dir/var/rekey.db|" "$work/rekey.conf" >"$dir/rekey.conf"
	(cd "$work" && exec "$REKEY_BIN" serve -c "$dir/rekey.conf") >"$dir/rekey.log" 2>&1 &
	cores_pid=$!
	wait_https "$port" "$cores_pid" "rekey ($n loops)" "$dir/rekey.log"
	nport=$(free_port)
	start_nginx "$n" "$nport" "$dir/nginx"
	cores_nginx_pid=$started_pid
	load rekey-cores "$port" "$cores_pid" "$WARMUP"
	warm_ok=$(field "$run_line" ok)
	load nginx-cores "$nport" "$started_workers" "$WARMUP"
	load nginx-cores "$nport" "$started_workers" "$REQUESTS"
	k_line=$run_line k_cpu=$run_cpu
	m0=$(commit_stats "$port")
	load rekey-cores "$port" "$cores_pid" "$REQUESTS"
	c_line=$run_line c_cpu=$run_cpu c_ok=$(field "$run_line" ok)
	m1=$(commit_stats "$port")
	say ""
	say "throughput on every core: rekey with intake_loops = $n, nginx with $n workers, the"
	say "  same $REQUESTS requests (N = 1 is the run above)"
	printf '  %-26s %12s %12s\n' "" rekey nginx
	printf '  %-26s %12s %12s\n' "requests/s (200s only)" "$(field "$c_line" rps)" \
		"$(field "$k_line" rps)"
	printf '  %-26s %12s %12s\n' "p99 ms" "$(field "$c_line" p99_ms)" "$(field "$k_line" p99_ms)"
	printf '  %-26s %12.0f %12.0f\n' "server CPU us per request" \
		"$(calc "1e6 * $c_cpu / $c_ok")" "$(calc "1e6 * $k_cpu / $(field "$k_line" ok)")"
	# Every loop hands its events to the one journal writer: what it allows bounds N loops too.
	commit_line "$m0" "$m1" "$(field "$c_line" seconds)" "$(field "$k_line" rps)"
	printf '  %-26s %12.2f   target >= %s   %s\n' "ratio rekey/nginx req/s" \
		"$(calc "$(field "$k_line" rps) > 0 ? $(field "$c_line" rps) / $(field "$k_line" rps) : 0")" \
		"$TARGET_RATIO" "$(verdict "$(calc "$(field "$c_line" rps) >= $TARGET_RATIO * $(field "$k_line" rps)")")"
	stop "$cores_pid"
	cores_pid=""
	stop "$cores_nginx_pid"
	cores_nginx_pid=""
	stored=$(sqlite3 "$dir/var/rekey.db" "SELECT count(*) FROM events WHERE type = 'grant.expired'")
	if [ "$stored" = $((warm_ok + c_ok)) ]; then
		say "  store: $stored grant.expired events, one per 200: OK"
	else
		say "  store: $stored grant.expired events, but $((warm_ok + c_ok)) answered 200: FAIL"
		exit 1
	fi
	rm -rf "$dir/var"
}

# other_ids_run: rekey's throughput run again with the other shape of ids, for
# comparison with the figures measured before the default changed.
other_ids_run() {
	local o_line o_cpu ts_a ts_b
	ts_a=$(thread_stats "$rekey_pid")
	LOAD_IDS=$OTHER_IDS load rekey "$rekey_port" "$rekey_pid" "$REQUESTS"
	ts_b=$(thread_stats "$rekey_pid")
	o_line=$run_line o_cpu=$run_cpu
	say ""
	say "the same run with ids $OTHER_IDS (BENCH_IDS; this run's are $IDS):"
	printf '  %-26s %12s   (p99 %s ms, %.0f us of CPU a request; ratio to nginx above %.2f)\n' \
		"rekey requests/s" "$(field "$o_line" rps)" "$(field "$o_line" p99_ms)" \
		"$(calc "1e6 * $o_cpu / $(field "$o_line" ok)")" \
		"$(calc "$(field "$o_line" rps) / $n_rps")"
	thread_split "$ts_a" "$ts_b" "$(field "$o_line" ok)"
}

# nylas_phases: throughput and latency, RSS after EVENTS events, idle connections.
nylas_phases() {
	say "  $CONNECTIONS TLS keep-alive connections, ~1 KB signed grant.expired bodies (ids $IDS), 1 request"
	say "  in flight per connection; rekey commits each event (SQLite WAL) before its 200."

	# --- warm-up
	load nginx "$nginx_port" "$nginx_worker" "$WARMUP"
	load rekey "$rekey_port" "$rekey_pid" "$WARMUP"

	# --- throughput and latency
	load nginx "$nginx_port" "$nginx_worker" "$REQUESTS"
	n_line=$run_line n_cpu=$run_cpu n_lg=$run_lg_cpu
	m0=$(commit_stats)
	ts0=$(thread_stats "$rekey_pid")
	load rekey "$rekey_port" "$rekey_pid" "$REQUESTS"
	ts1=$(thread_stats "$rekey_pid")
	r_line=$run_line r_cpu=$run_cpu r_lg=$run_lg_cpu
	m1=$(commit_stats)
	[ "$(field "$r_line" ok)" -gt 0 ] || die "rekey answered no request with 200: $r_line"

	r_rps=$(field "$r_line" rps) n_rps=$(field "$n_line" rps)
	r_p99=$(field "$r_line" p99_ms) n_p99=$(field "$n_line" p99_ms)
	r_secs=$(field "$r_line" seconds) n_secs=$(field "$n_line" seconds)
	ratio=$(calc "$n_rps > 0 ? $r_rps / $n_rps : 0")
	say ""
	say "throughput: $REQUESTS requests per server after $WARMUP warm-up requests each"
	printf '  %-26s %12s %12s\n' "" rekey nginx
	printf '  %-26s %12s %12s\n' "requests/s (200s only)" "$r_rps" "$n_rps"
	printf '  %-26s %12s %12s\n' "p50 ms" "$(field "$r_line" p50_ms)" "$(field "$n_line" p50_ms)"
	printf '  %-26s %12s %12s\n' "p99 ms" "$r_p99" "$n_p99"
	printf '  %-26s %12s %12s\n' "max ms" "$(field "$r_line" max_ms)" "$(field "$n_line" max_ms)"
	printf '  %-26s %12s %12s\n' "200s / errors" "$(field "$r_line" ok) / $(field "$r_line" errors)" \
		"$(field "$n_line" ok) / $(field "$n_line" errors)"
	printf '  %-26s %11.0f%% %11.0f%%\n' "server CPU (of one core)" \
		"$(calc "100 * $r_cpu / $r_secs")" "$(calc "100 * $n_cpu / $n_secs")"
	printf '  %-26s %11.0f%% %11.0f%%\n' "loadgen CPU (of one core)" \
		"$(calc "100 * $r_lg / $r_secs")" "$(calc "100 * $n_lg / $n_secs")"
	commit_line "$m0" "$m1" "$r_secs" "$n_rps"
	printf '  %-26s %12.2f   target >= %s   %s\n' "ratio rekey/nginx req/s" "$ratio" "$TARGET_RATIO" \
		"$(verdict "$(calc "$ratio >= $TARGET_RATIO")")"
	printf '  %-26s %12s   target <= %s ms  %s\n' "rekey p99 ms" "$r_p99" "$TARGET_P99_MS" \
		"$(verdict "$(calc "$r_p99 <= $TARGET_P99_MS")")"
	ratio_limits "$m0" "$m1"
	other_ids_run
	if [ "$PG" != 0 ]; then
		pg_phase
	fi
	if [ "$(nproc)" -gt 1 ]; then
		cores_phase
	fi

	# --- memory after EVENTS events
	left=$((EVENTS - rekey_sent))
	say ""
	if [ "$left" -gt 0 ]; then
		say "memory: sending rekey $left more events (to $EVENTS in all)..."
		load rekey "$rekey_port" "$rekey_pid" "$left"
		say "  $(field "$run_line" requests) requests in $(field "$run_line" seconds) s:" \
			"$(field "$run_line" rps) req/s, p99 $(field "$run_line" p99_ms) ms"
	else
		say "memory: rekey has already received $rekey_sent events"
	fi
	rss=$(rss_kb "$rekey_pid")
	rss_mib=$(calc "$rss / 1024")
	printf '  rekey RSS after %d events: %.1f MiB (peak %.1f MiB)   target <= %s MiB   %s\n' \
		"$rekey_sent" "$rss_mib" "$(calc "$(hwm_kb "$rekey_pid") / 1024")" "$TARGET_RSS_MIB" \
		"$(verdict "$(calc "$rss_mib <= $TARGET_RSS_MIB")")"

	say ""
	say "memory with $IDLE idle TLS connections (handshake done, no request sent):"
	idle rekey "$rekey_port" "$rekey_pid"
	r_before=$idle_before r_after=$idle_after r_conn=$idle_connected r_open=$idle_open
	idle nginx "$nginx_port" "$nginx_worker"
	n_before=$idle_before n_after=$idle_after n_conn=$idle_connected n_open=$idle_open
	n_master=$(rss_kb "$nginx_pid")
	printf '  %-34s %14s %14s\n' "" rekey "nginx worker"
	printf '  %-34s %10.1f MiB %10.1f MiB\n' "RSS before" "$(calc "$r_before / 1024")" \
		"$(calc "$n_before / 1024")"
	printf '  %-34s %10.1f MiB %10.1f MiB\n' "RSS with the idle connections" \
		"$(calc "$r_after / 1024")" "$(calc "$n_after / 1024")"
	printf '  %-34s %10.1f KiB %10.1f KiB\n' "per connection" \
		"$(calc "($r_after - $r_before) / $IDLE")" "$(calc "($n_after - $n_before) / $IDLE")"
	printf '  %-34s %14s %14s\n' "connected / still open at the end" "$r_conn / $r_open" \
		"$n_conn / $n_open"
	idle_ratio=$(calc "$r_after / $n_after")
	printf '  ratio rekey/nginx worker RSS: %.2f   target <= %s   %s\n' "$idle_ratio" \
		"$TARGET_IDLE_RATIO" "$(verdict "$(calc "$idle_ratio <= $TARGET_IDLE_RATIO")")"
	printf '  (the nginx master process holds another %.1f MiB, not counted)\n' "$(calc "$n_master / 1024")"
	if [ "$r_open" != "$IDLE" ] || [ "$n_open" != "$IDLE" ]; then
		say "  note: not every idle connection stayed open; the RSS figures understate the cost"
	fi
}

# graph_table R_LINE N_LINE R_CPU N_CPU R_LG N_LG M0 M1: the figures of one Graph
# run of each server side by side (CPU in seconds, M0 and M1 commit_stats).
graph_table() {
	local r_line=$1 n_line=$2 r_secs n_secs
	r_secs=$(field "$r_line" seconds) n_secs=$(field "$n_line" seconds)
	printf '  %-26s %12s %12s\n' "" rekey nginx
	printf '  %-26s %12s %12s\n' "batches/s (202s only)" "$(field "$r_line" rps)" \
		"$(field "$n_line" rps)"
	printf '  %-26s %12s %12s\n' "p50 ms" "$(field "$r_line" p50_ms)" "$(field "$n_line" p50_ms)"
	printf '  %-26s %12s %12s\n' "p99 ms" "$(field "$r_line" p99_ms)" "$(field "$n_line" p99_ms)"
	printf '  %-26s %12s %12s\n' "max ms" "$(field "$r_line" max_ms)" "$(field "$n_line" max_ms)"
	printf '  %-26s %12s %12s\n' "202s / errors" "$(field "$r_line" ok) / $(field "$r_line" errors)" \
		"$(field "$n_line" ok) / $(field "$n_line" errors)"
	printf '  %-26s %11.0f%% %11.0f%%\n' "server CPU (of one core)" \
		"$(calc "100 * $3 / $r_secs")" "$(calc "100 * $4 / $n_secs")"
	printf '  %-26s %11.0f%% %11.0f%%\n' "loadgen CPU (of one core)" \
		"$(calc "100 * $5 / $r_secs")" "$(calc "100 * $6 / $n_secs")"
	commit_line "$7" "$8"
	printf '  %-26s %12s\n' "worker backlog at the end" "$(graph_backlog)"
}

# graph_run N [RATE]: N batches to nginx, then to rekey (closed loop, or
# paced at RATE a second); prints the table and sets r_line and n_line.
graph_run() {
	local n=$1 rate=${2:-} n_cpu n_lg m0 m1
	load nginx "$nginx_port" "$nginx_worker" "$n" graph "$rate"
	n_line=$run_line n_cpu=$run_cpu n_lg=$run_lg_cpu
	m0=$(commit_stats)
	g_ts0=$(thread_stats "$rekey_pid")
	load rekey "$rekey_port" "$rekey_pid" "$n" graph "$rate"
	r_line=$run_line
	g_ts1=$(thread_stats "$rekey_pid")
	m1=$(commit_stats)
	[ "$(field "$r_line" ok)" -gt 0 ] || die "rekey answered no Graph batch with 202: $r_line"
	graph_table "$r_line" "$n_line" "$run_cpu" "$n_cpu" "$run_lg_cpu" "$n_lg" "$m0" "$m1"
}

# graph_phase: ack latency of Graph batches of GRAPH_BATCH items at a paced
# arrival rate (the target), then throughput at saturation.
graph_phase() {
	local r_line n_line r_p99
	say ""
	say "graph batch of $GRAPH_BATCH (~$((GRAPH_BATCH / 2)) KB): rekey journals all $GRAPH_BATCH items" \
		"(one group commit, fsync) before its 202;"
	say "  its Graph worker then marks each processed (\"no_graph_client\") through the same"
	say "  writer thread, in later commits.  $GRAPH_WARMUP warm-up batches to each server first."
	load rekey "$rekey_port" "$rekey_pid" "$GRAPH_WARMUP" graph
	load nginx "$nginx_port" "$nginx_worker" "$GRAPH_WARMUP" graph
	graph_drain

	say ""
	say "graph paced: $GRAPH_PACED batches at $GRAPH_RATE a second" \
		"($((GRAPH_RATE * GRAPH_BATCH)) notifications a second) over $CONNECTIONS connections;"
	say "  Graph pushes at its own pace, so this is the load of the target.  Each latency runs"
	say "  from the batch's due time: a server that falls behind pays for the queue."
	graph_run "$GRAPH_PACED" "$GRAPH_RATE"
	# What bounds the p99 at this pace is CPU shared on few cores, not a queue:
	# the Graph worker (main loop) reads, parses and marks each notification
	# beside the intake and the writer (with it switched off, p99 4.1-4.9 ms).
	say "  rekey's CPU, read/write system calls and KiB written per notification, by thread:"
	thread_split "$g_ts0" "$g_ts1" "$(( $(field "$r_line" ok) * GRAPH_BATCH ))"
	r_p99=$(field "$r_line" p99_ms)
	printf 'graph batch of %d at %d a second: rekey p99 %s ms (nginx %s ms)   target p99 <= %s ms: %s\n' \
		"$GRAPH_BATCH" "$GRAPH_RATE" "$r_p99" "$(field "$n_line" p99_ms)" "$TARGET_P99_MS" \
		"$(verdict "$(calc "$r_p99 <= $TARGET_P99_MS")")"
	graph_drain

	say ""
	say "graph saturation: $GRAPH_BATCHES batches per server, a closed loop of $CONNECTIONS connections"
	say "  with 1 batch in flight on each.  Every connection is always waiting, so the"
	say "  latency here is the queue (mean = $CONNECTIONS / throughput, Little's law), not the"
	say "  time of one batch: nginx's own p99 shows what the load generator allows."
	graph_run "$GRAPH_BATCHES"
	printf 'graph saturation: rekey %s batches/s (%s notifications/s) vs nginx %s, p99 %s ms vs %s ms\n' \
		"$(field "$r_line" rps)" "$(calc "$(field "$r_line" rps) * $GRAPH_BATCH")" \
		"$(field "$n_line" rps)" "$(field "$r_line" p99_ms)" "$(field "$n_line" p99_ms)"
}

if want nylas; then
	nylas_phases
fi
if want graph; then
	graph_phase
fi

# --- durability: one stored event per 200, GRAPH_BATCH per 202
say ""
stop "$rekey_pid"
rekey_pid=""
if want nylas; then
	stored=$(sqlite3 "$work/var/rekey.db" "select count(*) from events where type = 'grant.expired'")
	if [ "$stored" = "$rekey_ok" ]; then
		say "store: $stored grant.expired events stored, $rekey_ok answered 200 ($rekey_sent sent): OK"
	else
		say "store: $stored grant.expired events stored, but $rekey_ok answered 200" \
			"($rekey_sent sent): FAIL"
		exit 1
	fi
fi
if want graph; then
	stored=$(sqlite3 "$work/var/rekey.db" "SELECT count(*) FROM events WHERE source = 'graph'")
	if [ "$stored" = $((GRAPH_BATCH * graph_ok)) ]; then
		say "store: $stored graph events stored, $graph_ok batches of $GRAPH_BATCH answered 202: OK"
	else
		say "store: $stored graph events stored, but $graph_ok batches of $GRAPH_BATCH answered" \
			"202: FAIL"
		exit 1
	fi
fi
if [ -s "$work/rekey.log" ]; then
	say "rekey logged $(wc -l <"$work/rekey.log") lines at warn or above; the last ones:"
	tail -n 5 "$work/rekey.log" | sed 's/^/  /'
fi
failed=0
