#!/bin/sh
# Builds the benchmarks' load generator (tests/bench/loadgen.c) into
# build/bench/loadgen and prints its path.  Kept out of the Makefile: it is a
# tool of the benchmarks, not part of rekey.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$ROOT/build/bench/loadgen
mkdir -p "$ROOT/build/bench"
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror "$ROOT/tests/bench/loadgen.c" \
	-o "$out" $(pkg-config --cflags --libs openssl libevent libevent_openssl)
printf '%s\n' "$out"
