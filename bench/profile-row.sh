#!/bin/sh
# Where the CPU of one ping-pong goes, per message: runs `node dist/bench/solo.js WHAT SIZE` and, once
# it is past its first measurement, samples the whole machine for 5 s with `perf record -a` (Linux perf,
# `apt-get install linux-perf`; as root, or with kernel.perf_event_paranoid ≤ 0). A symbol's share of
# the samples, times the CPUs, times solo.js's median time per message, is its CPU time per message.
# Needs `npm run build` first. See bench/README.md, "Profiling one row".
#
#   bench/profile-row.sh WHAT [SIZE]        WHAT: floor, floor-delivering, floor-allocating, typed, object, objf64
set -eu
what=${1:?usage: bench/profile-row.sh WHAT [SIZE]}
size=${2:-16777216}
command -v perf >/dev/null || { echo "profile-row: needs Linux perf (apt-get install linux-perf)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

node "$root/dist/bench/solo.js" "$what" "$size" 9 2>"$work/solo.log" &
solo=$!
until grep -q "MB/s" "$work/solo.log" || ! kill -0 "$solo" 2>/dev/null; do sleep 0.2; done
perf record -q -a -e cpu-clock -F 4000 -o "$work/perf.data" -- sleep 5
wait "$solo" || { cat "$work/solo.log" >&2; exit 1; }

cpus=$(nproc)
per_message=$(sed -n 's/.* \([0-9.]*\) µs per message.*/\1/p' "$work/solo.log")
grep "median" "$work/solo.log" >&2
perf report -i "$work/perf.data" -n --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | awk -v cpus="$cpus" -v us="$per_message" '
  NF >= 4 {
    n = $2; sym = $NF; total += n
    if (sym ~ /native_safe_halt|default_idle|cpu_idle|intel_idle|acpi_idle/) idle += n
    else if (sym == "_copy_to_iter") receive += n
    else if (sym == "_copy_from_iter") send += n
    else if (sym ~ /^clear_page/) clear += n
    else if ($4 == "[k]") kernel += n
    else if ($3 == "node" && $0 ~ /v8::internal::.*(Mark|Sweep|Scaveng|Evacuat|Remembered|ConcurrentMarking)/) gc += n
    else user += n
  }
  END {
    if (total == 0) { print "profile-row: no samples" > "/dev/stderr"; exit 1 }
    f = cpus * us / total
    printf "CPU µs per message: kernel copy in (send) %.0f, kernel copy out (receive) %.0f, page clearing %.0f, other kernel %.0f, V8 GC %.0f, other user %.0f; busy %.0f of %.0f\n",
      send * f, receive * f, clear * f, kernel * f, gc * f, user * f, (total - idle) * f, cpus * us
  }'
