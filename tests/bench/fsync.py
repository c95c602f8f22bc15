#!/usr/bin/env python3
"""How long one fdatasync takes on a directory's disk: the floor under any
server that answers only once its request is on disk.

Each round overwrites the same --kib KiB at the start of a file and waits for
fdatasync, as a SQLite write-ahead log does once it has been rewound (the
cheapest case: no new blocks to allocate).  Prints one line,
"syncs=N p50_ms=X p99_ms=Y", for intake.sh.

    python3 tests/bench/fsync.py DIR [--syncs 1000] [--kib 16]
"""
import argparse
import os
import sys
import tempfile
import time


def measure(directory, syncs, kib):
    data = os.urandom(kib * 1024)
    fd, path = tempfile.mkstemp(prefix="fsync-floor.", dir=directory)
    try:
        os.write(fd, data)
        os.fsync(fd)  # the blocks exist from here on: later rounds only overwrite
        times = []
        for _ in range(syncs):
            os.pwrite(fd, data, 0)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory")
    ap.add_argument("--syncs", type=int, default=1000)
    ap.add_argument("--kib", type=int, default=16)
    args = ap.parse_args()
    if args.syncs < 1 or args.kib < 1:
        sys.exit("fsync.py: --syncs and --kib must be at least 1")
    times = measure(args.directory, args.syncs, args.kib)
    p50 = times[len(times) // 2]
    p99 = times[min(len(times) - 1, len(times) * 99 // 100)]
    print("syncs=%d p50_ms=%.3f p99_ms=%.3f" % (len(times), p50 * 1e3, p99 * 1e3))


if __name__ == "__main__":
    main()
