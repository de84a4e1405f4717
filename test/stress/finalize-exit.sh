#!/usr/bin/env bash
# The stress loops behind finalize.test.ts, too long for the suite: each program that ends with messages
# in flight runs RUNS times per rank count and mode, and every run must exit 0.
#   ring-exit.ts          a ring sendrecv of an object holding a 16 MiB Float64Array, then the end
#   unreceived.ts large   rank 0's eager and rendezvous messages that nobody receives, then the end
#
#   npm run build && test/stress/finalize-exit.sh [RUNS [MODE [NP ...]]]     (defaults: 200, both modes, 3 4 8)
#
# Prints a RESULT line per program, rank count and mode, the last lines of every failing run, and exits 1
# if any run failed. Each run has 120 s; a run that takes longer counts as failed (timeout ends tsmpirun,
# whose ranks then end by themselves).
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-200}
modes=${2:-threads processes}
shift $(( $# > 2 ? 2 : $# ))
nps=${*:-3 4 8}
[ -x dist/tsmpirun.js ] || { echo "finalize-exit.sh: run npm run build first" >&2; exit 2; }
failed=0
for mode in $modes; do
  for np in $nps; do
    for prog in "ring-exit.ts" "unreceived.ts large"; do
      fail=0
      for i in $(seq 1 "$runs"); do
        # shellcheck disable=SC2086 # $prog is a script and its argument
        out=$(timeout 120 node dist/tsmpirun.js --ranks "$mode" -np "$np" test/fixtures/finalize/$prog 2>&1); rc=$?
        if [ $rc -ne 0 ]; then
          fail=$((fail + 1))
          echo "FAIL mode=$mode np=$np prog='$prog' run=$i exit=$rc"
          echo "$out" | tail -5
        fi
      done
      echo "RESULT mode=$mode np=$np prog='$prog' runs=$runs failures=$fail"
      [ $fail -eq 0 ] || failed=1
    done
  done
done
exit $failed
