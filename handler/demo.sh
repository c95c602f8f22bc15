#!/bin/sh
# make demo: an expired Azure client secret, a storm of a few hundred
# grant.expired webhooks, and rekey bringing the users back, against local
# fakes of Microsoft and Nylas and local mail/Slack/Teams/webhook sinks.
# The orchestration is handler/demo.py (Python 3 standard library); it stops
# everything it started.  REKEY_BIN, DEMO_USERS, DEMO_RETURN_S: see demo.py.
set -eu
cd "$(dirname "$0")/.."
for tool in python3 node openssl pgrep; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "demo: $tool is missing; run 'make demo' (it installs what is missing)" >&2
		exit 1
	fi
done
if [ ! -x "${REKEY_BIN:-build/rekey}" ]; then
	echo "demo: ${REKEY_BIN:-build/rekey} is not built; run 'make demo'" >&2
	exit 1
fi
export PYTHONDONTWRITEBYTECODE=1
exec python3 handler/demo.py "$@"
