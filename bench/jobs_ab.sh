#!/usr/bin/env bash
# Full compiles (no cache) of FLEET into /dev/shm with --jobs 1 and --jobs 2, alternated,
# ROUNDS times each: the measurement behind compiler/io/parallel.py's default worker count.
#     bash bench/jobs_ab.sh FLEET [ROUNDS]
set -euo pipefail
fleet=$1
rounds=${2:-3}
for _ in $(seq "$rounds"); do
  for jobs in 1 2; do
    out=/dev/shm/runwayc-jobs-ab-$jobs
    rm -rf "$out"
    sync
    /usr/bin/time -f "jobs=$jobs %e s wall %U s user %S s sys %M KiB peak" \
      python -m compiler.cli compile "$fleet" --env prod --no-cache --locked --jobs "$jobs" \
      --out "$out" 2>&1 >/dev/null | grep '^jobs='
  done
done
rm -rf /dev/shm/runwayc-jobs-ab-1 /dev/shm/runwayc-jobs-ab-2
