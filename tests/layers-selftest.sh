#!/bin/bash
# layers-selftest.sh: tests/layers.sh must fail on a planted wrong include and
# name it.  Each case copies src/ aside, plants one fault, and runs the check.
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

check() {
	local name=$1 want_rc=$2 want_text=$3 out rc
	out=$("$here/layers.sh" "$work/src" 2>&1)
	rc=$?
	n=$((n + 1))
	if [ "$rc" -eq "$want_rc" ] && { [ -z "$want_text" ] || grep -qF -- "$want_text" <<<"$out"; }; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name (exit $rc, want $want_rc and \"$want_text\")"
		sed 's/^/#   /' <<<"$out" | head -20
	fi
}

# A fresh copy of the tree, then the planting command given.
plant() {
	rm -rf "$work/src"
	cp -r "$here/../src" "$work/src"
	"$@"
}

# Adds the line after the first include of file (relative to src).
add_include() {
	sed -i "0,/^#include \"/s||$2\n&|" "$work/src/$1"
}

plant true
check "the tree as it is passes" 0 "ok 2 - no include cycle"

plant add_include intake/nylas.c '#include "outbound/http_client.h"'
check "intake including outbound (a sibling) fails and is named" 1 \
    "intake/nylas.c (intake) includes outbound/http_client.h: outbound is a sibling layer"

plant add_include state/store.c '#include "engine/rotator.h"'
check "state including engine (a higher layer) fails and is named" 1 \
    "state/store.c (state) includes engine/rotator.h: engine is a higher layer"

plant add_include proto/jwt.c '#include "notice/messages.h"'
check "proto including notice (siblings) fails" 1 "notice is a sibling layer"

plant add_include lib/util.c '#include "state/config.h"'
check "lib including state fails" 1 "lib/util.c (lib) includes state/config.h"

plant add_include engine/doctor.c '#include "config.h"'
check "an include without its folder fails" 1 "name the layer"

plant add_include engine/doctor.c '#include "engine/nonesuch.h"'
check "an include of a header that does not exist fails" 1 "which does not exist"

plant cp "$here/../src/lib/log.c" "$work/src/stray.c"
check "a file in src/ itself fails" 1 "stray.c: in src/ itself"

plant add_include lib/log.c '#include "lib/util.h"'
check "a cycle within a layer (lib/log <-> lib/util) fails and names its modules" 1 "#   lib/log"

plant add_include outbound/nylas.c '#include "state/store.h"'
check "outbound including the store (below it, but forbidden) fails with the reason" 1 \
    "outbound/nylas.c (outbound) includes state/store.h: the outbound clients never touch the store"

plant add_include state/runtime.h '#include "engine/alerts.h"'
check "a header-only file is held to its layer too" 1 "state/runtime.h (state) includes engine/alerts.h"

echo "1..$n"
[ "$failed" -eq 0 ]
