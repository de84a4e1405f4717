// Clock alignment for jobs on several hosts, as Score-P does it: at start and at finalize each rank on
// another host than the collector (tsmpirun, or rank 0 under a PMI launcher) measures the offset of
// the collector's clock by ping-pong, keeping the round with the shortest round trip (its midpoint is
// the best estimate, NTP's rule); between the two, the offset is interpolated linearly, which also
// takes out a constant drift. Ranks on the collector's host need none: performance.timeOrigin +
// performance.now() is the same clock in every process of a host.

/** Ping-pong rounds per measurement; the shortest round trip wins. */
export const CLOCK_ROUNDS = 10;

/** A clock now: ms since the epoch, from the process's time origin and its monotonic clock. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Measures the collector's offset: `ping` asks for the collector's wallNow() and resolves with it.
 * Returns [local performance.now() at the midpoint, offset (collector − local) in ms, round trip in ms].
 */
export async function measureOffset(ping: () => Promise<number>, rounds = CLOCK_ROUNDS): Promise<[number, number, number]> {
  let best: [number, number, number] | undefined;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const remote = await ping();
    const t1 = performance.now();
    const middle = (t0 + t1) / 2;
    const sample: [number, number, number] = [middle, remote - (performance.timeOrigin + middle), t1 - t0];
    if (!best || sample[2] < best[2]) best = sample;
  }
  return best!;
}

/** The offset at local time `t` from [local time, offset, round trip] samples: linear between the first and last. */
export function offsetAt(samples: readonly (readonly [number, number, number])[], t: number): number {
  if (samples.length === 0) return 0;
  const first = samples[0]!, last = samples[samples.length - 1]!;
  if (samples.length === 1 || last[0] === first[0]) return first[1];
  return first[1] + ((t - first[0]) * (last[1] - first[1])) / (last[0] - first[0]);
}
