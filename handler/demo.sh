#!/bin/bash
# make demo: the real daemon on 127.0.0.1 with a generated dev config and
# certificates, fed signed Nylas webhooks with curl, the way Nylas sends
# them.  Prints each exchange and what rekey journaled, then stops
# everything it started.  (The full expiry-storm demo against the fakes of
# Nylas and Microsoft grows out of this one.)
set -euo pipefail
cd "$(dirname "$0")/.."
REKEY=${REKEY_BIN:-build/rekey}
work=$(mktemp -d /tmp/rekey-demo.XXXXXX)
pid=""

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "certificates and a dev config in $work"
certs/make-certs.sh "$work/certs" >/dev/null
mkdir -m 700 "$work/secrets"
umask 077
secret="whsec-demo-$(openssl rand -hex 12)"
printf '%s\n' "$secret" >"$work/secrets/nylas_webhook_secret"
openssl rand -hex 32 >"$work/secrets/master_key"
openssl rand -hex 24 >"$work/secrets/admin_token"
umask 022
cat >"$work/rekey.conf" <<EOF
[server]
listen = 127.0.0.1:0
tls_cert = $work/certs/server.crt
tls_key = $work/certs/server.key
admin_token_file = $work/secrets/admin_token

[store]
url = sqlite:$work/var/rekey.db
master_key_file = $work/secrets/master_key

[app prod]
nylas_webhook_secret_file = $work/secrets/nylas_webhook_secret
azure_client_id = 11111111-2222-3333-4444-555555555555
EOF
"$REKEY" check -c "$work/rekey.conf"

say "rekey serve"
"$REKEY" serve -c "$work/rekey.conf" 2>"$work/rekey.log" &
pid=$!
port=""
for _ in $(seq 100); do
	port=$(grep -o 'port [0-9]*' "$work/rekey.log" | head -1 | cut -d' ' -f2 || true)
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/rekey.log"; exit 1; }
	sleep 0.05
done
[ -n "$port" ] || { echo "rekey did not start"; cat "$work/rekey.log"; exit 1; }
base="https://localhost:$port"
echo "listening on $base (HTTPS, certificate from the demo CA)"

# Sends a body the way Nylas does and prints the status and answer.
post() {
	local label=$1 file=$2 sig=$3
	shift 3
	printf '%-46s -> ' "$label"
	curl -sS --cacert "$work/certs/ca.crt" -o "$work/answer" -w '%{http_code} ' \
		-H 'Content-Type: application/json' -H "X-Nylas-Signature: $sig" "$@" \
		--data-binary @"$file" "$base/webhooks/nylas/prod"
	tr -d '\n' <"$work/answer"
	echo
}
sign() { openssl dgst -sha256 -hmac "$secret" -r "$1" | cut -d' ' -f1; }

envelope() {
	printf '{"specversion":"1.0","type":"%s","source":"/nylas/system","id":"%s","time":%d,' \
		"$1" "$2" "$(date +%s)"
	printf '"webhook_delivery_attempt":1,"data":{"application_id":"demo-app","object":'
	printf '{"code":25009,"grant_id":"grant-%s","integration_id":"conn-1","provider":"microsoft",' "$3"
	printf '"email":"%s@example.com","grant_updated_at":%d}}}' "$3" "$(($(date +%s) - 3600))"
}

say "Nylas checks the endpoint with a challenge"
printf '%-46s -> ' "GET /webhooks/nylas/prod?challenge=demo-42"
curl -sS --cacert "$work/certs/ca.crt" "$base/webhooks/nylas/prod?challenge=demo-42"
echo

say "signed grant.expired webhooks"
for user in alice bob carol; do
	envelope grant.expired "evt-$user" "$user" >"$work/$user.json"
	post "grant.expired for $user@example.com" "$work/$user.json" "$(sign "$work/$user.json")"
done
post "the same event again (Nylas retries)" "$work/alice.json" "$(sign "$work/alice.json")"
envelope grant.expired evt-dave dave | gzip -c >"$work/dave.json.gz"
post "gzip delivery for dave (compressed_delivery)" "$work/dave.json.gz" \
	"$(sign "$work/dave.json.gz")" -H 'Content-Encoding: gzip'

say "what rekey refuses"
post "a forged signature" "$work/carol.json" "$(printf '0%.0s' $(seq 64))"
printf '%-46s -> ' "no signature at all"
curl -sS --cacert "$work/certs/ca.crt" -o /dev/null -w '%{http_code}\n' \
	--data-binary @"$work/carol.json" "$base/webhooks/nylas/prod"
printf '%-46s -> ' "an app rekey does not know"
curl -sS --cacert "$work/certs/ca.crt" -o /dev/null -w '%{http_code}\n' \
	-H "X-Nylas-Signature: $(sign "$work/carol.json")" \
	--data-binary @"$work/carol.json" "$base/webhooks/nylas/nope"

say "journaled in the store (rekey status)"
"$REKEY" status -c "$work/rekey.conf"
sqlite3 -header -column "$work/var/rekey.db" \
	"SELECT event_id, type, email, grant_id, code, remote_addr FROM events ORDER BY id" 2>/dev/null ||
	true

say "metrics (GET /metrics)"
curl -sS --cacert "$work/certs/ca.crt" "$base/metrics" | grep '^rekey_webhooks_total' || true

say "SIGTERM: finish in-flight work, commit, exit"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
echo "rekey exited $rc"
echo "last log lines:"
tail -n 3 "$work/rekey.log"
