// Small helpers shared by the benchmark driver and the programs it runs: statistics, the message
// sizes, the iteration calibration every measurement uses (floor and ours alike), formatting, logging.
// bench/mpi4py/serve.py (the Open MPI side of the `openmpi` group) mirrors the warm-up and iteration
// rules below in Python: change both together.

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Point-to-point sizes of the table. */
export const P2P_SIZES = [8, KiB, 64 * KiB, MiB, 16 * MiB, 256 * MiB] as const;

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}

/** Warm-up iterations per batch; batches repeat until WARM_SECONDS have passed (at least one batch). */
export function warmIterations(bytes: number): number {
  return bytes <= 64 * KiB ? 500 : bytes <= MiB ? 20 : bytes <= 16 * MiB ? 3 : 1;
}

/**
 * Warm-up time before anything is timed: V8 needs thousands of round trips before the message path
 * (ours and the floor's alike) runs optimized code; 200 round trips of 8 B measured 10× too slow.
 */
export const WARM_SECONDS = 0.25;

/** Bounds of the timed iteration count (the budget decides within them). */
export function iterationBounds(bytes: number): [number, number] {
  return bytes <= 64 * KiB ? [200, 200_000] : bytes <= MiB ? [20, 5000] : bytes <= 16 * MiB ? [5, 500] : [3, 50];
}

/**
 * The timed iteration count for a measured time per iteration (seconds) and a budget (seconds):
 * every measurement, floor and ours, is calibrated the same way.
 */
export function iterationsFor(bytes: number, perIteration: number, budget: number): number {
  const [lo, hi] = iterationBounds(bytes);
  const n = Math.ceil(budget / Math.max(perIteration, 1e-9));
  return Math.max(lo, Math.min(hi, n));
}

/** Window of osu_bw-style streaming (64 messages, as osu_bw), capped so a window stays ≤ 1 GiB. */
export function streamWindow(bytes: number): number {
  return Math.max(1, Math.min(64, Math.floor((1024 * MiB) / bytes)));
}

export function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Progress and diagnostics: stderr, so that stdout carries only results. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
