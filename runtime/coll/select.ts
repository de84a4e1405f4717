// Which algorithm each collective runs: a table by communicator size and message size (MPICH's
// default crossovers, checked on this machine by the bench's algorithms group; one re-measured), with
// an environment override per collective so that each algorithm can be run and tested on its own:
//
//   TSMPI_COLL_<COLLECTIVE>=<algorithm>|auto      e.g. TSMPI_COLL_ALLREDUCE=ring
//
// The environment is read once per process (resetSelection re-reads it, for tests). An unknown
// collective or algorithm name is refused as the rank starts (and by tsmpirun before any rank does),
// with TSMPI_ERR_ARG naming the valid ones, never at the first collective.
// A forced algorithm that cannot run a given call (e.g. ring allreduce with a non-commutative op,
// anything but whole-buffer algorithms with a user op, typed-only algorithms on objects) runs the
// order-preserving / whole-buffer / object algorithm that `applicable` names instead.
//
// Every input of the choice is the same on every rank of a correct call (sizes every rank passes
// alike, never a root-only length), so all ranks pick the same algorithm.
import { tsmpiError } from '../errors.js';
import { isPowerOfTwo, powerOfTwoFloor } from './topology.js';

export const COLL_ALGORITHMS = {
  barrier: ['dissemination'],
  bcast: ['binomial', 'scatter_allgather'],
  scatter: ['binomial', 'linear'],
  gather: ['binomial', 'linear'],
  allgather: ['recursive_doubling', 'bruck', 'ring'],
  alltoall: ['pairwise', 'scattered'],
  reduce: ['binomial', 'rabenseifner'],
  allreduce: ['recursive_doubling', 'rabenseifner', 'ring'],
  scan: ['recursive_doubling'],
  exscan: ['recursive_doubling'],
  reduce_scatter: ['allreduce', 'pairwise'],
  reduce_scatter_block: ['allreduce', 'pairwise'],
  scatterv: ['linear'],
  gatherv: ['linear'],
  allgatherv: ['ring'],
  alltoallv: ['pairwise'],
} as const satisfies Record<string, readonly string[]>;

export type CollName = keyof typeof COLL_ALGORITHMS;
export type AlgorithmOf<C extends CollName> = (typeof COLL_ALGORITHMS)[C][number];

// Crossovers (bytes). MPICH's CVAR defaults unless noted (ALLREDUCE_SHORT_MSG_BYTES is measured).
// `npm run bench -- --only algorithms` times every algorithm against the automatic choice on 2, 3 and 4
// ranks. On this 2-core machine (5 repetitions) it confirmed the Bcast, Alltoall and ring choices below:
// scatter + allgather Bcast was slower than binomial at every size from 4 KiB to 8 MiB but one tie
// (3 ranks, 256 KiB), up to 9.5× at 4 KiB; ring Allreduce never beat Rabenseifner beyond noise; Alltoall's
// pairwise and scattered stayed within noise of each other. Recursive-doubling Allgather beat ring on 4
// ranks at 1 and 4 MiB (0.83×, 0.78×), but on two cores fewer rounds win by themselves, so MPICH's
// long-message choice stays until a real cluster says otherwise. Communicators of 8 ranks and more
// cannot be measured on 2 cores.
/** Bcast: binomial below this many bytes (MPIR_CVAR_BCAST_SHORT_MSG_SIZE)… */
export const BCAST_SHORT_MSG_BYTES = 12288;
/** …or on fewer ranks than this (MPIR_CVAR_BCAST_MIN_PROCS); scatter + allgather otherwise. */
export const BCAST_MIN_PROCS = 8;
/** Reduce: binomial up to this many bytes (MPIR_CVAR_REDUCE_SHORT_MSG_SIZE), Rabenseifner above. */
export const REDUCE_SHORT_MSG_BYTES = 2048;
/**
 * Allreduce: recursive doubling up to this many bytes, Rabenseifner above. Measured with
 * `npm run bench -- --only algorithms --collectives allreduce --sizes 32K,48K,64K,96K,128K,192K,256K`
 * (Float64Array SUM, 5 repetitions), median µs per call, recursive doubling / Rabenseifner:
 *   np=2:  32 KiB 52/111, 64 KiB 66/95, 96 KiB 87/130, 128 KiB 102/95, 256 KiB 193/146
 *   np=3:  32 KiB 145/288, 64 KiB 164/293, 96 KiB 208/333, 128 KiB 249/337, 256 KiB 452/397
 *   np=4:  32 KiB 227/312, 64 KiB 291/351, 96 KiB 354/427, 128 KiB 469/396, 256 KiB 871/591
 * Recursive doubling wins on every size up to 96 KiB, and from 128 KiB on it loses on 2 or 4 ranks.
 * (MPICH's MPIR_CVAR_ALLREDUCE_SHORT_MSG_SIZE is 2048. Here each extra round of Rabenseifner costs
 * more than the bytes it saves until ~100 KiB. An earlier measurement put the crossover at 32 KiB.)
 */
export const ALLREDUCE_SHORT_MSG_BYTES = 96 * 1024;
/** Allreduce: ring from this many bytes (commutative ops). Off, as in MPICH's default selection: the bench never saw it win beyond noise. */
export const ALLREDUCE_RING_MIN_BYTES = Number.POSITIVE_INFINITY;
/** Allgather (total bytes): Bruck below this on non-power-of-two sizes (MPIR_CVAR_ALLGATHER_SHORT_MSG_SIZE)… */
export const ALLGATHER_SHORT_MSG_BYTES = 81920;
/** …recursive doubling below this on power-of-two sizes (MPIR_CVAR_ALLGATHER_LONG_MSG_SIZE); ring otherwise. */
export const ALLGATHER_LONG_MSG_BYTES = 524288;
/** Alltoall (bytes per block): scattered up to this (MPIR_CVAR_ALLTOALL_MEDIUM_MSG_SIZE), pairwise above. */
export const ALLTOALL_MEDIUM_MSG_BYTES = 32768;
/** Reduce_scatter (total bytes): allreduce-based below this (MPIR_CVAR_REDSCAT_COMMUTATIVE_LONG_MSG_SIZE), pairwise from it. */
export const REDUCE_SCATTER_LONG_MSG_BYTES = 524288;

/** What a choice depends on. */
export interface SelectionInput {
  readonly size: number;
  /** The bytes the collective's thresholds are about (see each rule). */
  readonly bytes: number;
  /** Op items in the buffer (elements, or [value, index] pairs for MAXLOC/MINLOC). */
  readonly items?: number;
  /** The op is predefined and commutative. */
  readonly commute?: boolean;
  /** The op is a user op: it must be given whole buffers. */
  readonly userOp?: boolean;
  /** The object family: sizes are unknown off the root, and values cannot be cut into segments. */
  readonly objects?: boolean;
}

type Rules = { [C in CollName]: (input: SelectionInput) => AlgorithmOf<C> };

/** Whether a reduction may use an algorithm that cuts the buffer into one segment per butterfly rank. */
function segmentable(input: SelectionInput): boolean {
  return !input.objects && !input.userOp;
}

const DEFAULTS: Rules = {
  barrier: () => 'dissemination',
  bcast: (i) =>
    i.objects || i.bytes < BCAST_SHORT_MSG_BYTES || i.size < BCAST_MIN_PROCS ? 'binomial' : 'scatter_allgather',
  scatter: () => 'binomial',
  gather: () => 'binomial',
  allgather: (i) =>
    i.objects ? 'bruck'
    : i.bytes < ALLGATHER_LONG_MSG_BYTES && isPowerOfTwo(i.size) ? 'recursive_doubling'
    : i.bytes < ALLGATHER_SHORT_MSG_BYTES ? 'bruck'
    : 'ring',
  alltoall: (i) => (i.objects || i.bytes > ALLTOALL_MEDIUM_MSG_BYTES ? 'pairwise' : 'scattered'),
  reduce: (i) =>
    segmentable(i) && i.bytes > REDUCE_SHORT_MSG_BYTES && (i.items ?? 0) >= powerOfTwoFloor(i.size)
      ? 'rabenseifner'
      : 'binomial',
  allreduce: (i) =>
    !segmentable(i) || i.bytes <= ALLREDUCE_SHORT_MSG_BYTES || (i.items ?? 0) < powerOfTwoFloor(i.size)
      ? 'recursive_doubling'
      : i.commute && i.bytes >= ALLREDUCE_RING_MIN_BYTES ? 'ring'
      : 'rabenseifner',
  scan: () => 'recursive_doubling',
  exscan: () => 'recursive_doubling',
  reduce_scatter: (i) => (segmentable(i) && i.bytes >= REDUCE_SCATTER_LONG_MSG_BYTES ? 'pairwise' : 'allreduce'),
  reduce_scatter_block: (i) => DEFAULTS.reduce_scatter(i),
  scatterv: () => 'linear',
  gatherv: () => 'linear',
  allgatherv: () => 'ring',
  alltoallv: () => 'pairwise',
};

/** What runs when `forced` cannot run this call (see the header); identity otherwise. */
const APPLICABLE: { [C in CollName]?: (forced: AlgorithmOf<C>, input: SelectionInput) => AlgorithmOf<C> } = {
  bcast: (forced, i) => (i.objects ? 'binomial' : forced),
  allgather: (forced, i) => (forced === 'recursive_doubling' && !isPowerOfTwo(i.size) ? 'bruck' : forced),
  reduce: (forced, i) => (segmentable(i) ? forced : 'binomial'),
  allreduce: (forced, i) =>
    !segmentable(i) ? 'recursive_doubling' : forced === 'ring' && !i.commute ? 'rabenseifner' : forced,
  reduce_scatter: (forced, i) => (i.userOp ? 'allreduce' : forced),
  reduce_scatter_block: (forced, i) => (i.userOp ? 'allreduce' : forced),
};

export const ENV_PREFIX = 'TSMPI_COLL_';
let source: NodeJS.ProcessEnv = process.env;
let overrides: Partial<Record<CollName, string>> | undefined;

/** Forgets the cached overrides; the next call reads them from `env` (default: process.env). For tests. */
export function resetSelection(env: NodeJS.ProcessEnv = process.env): void {
  source = env;
  overrides = undefined;
}

/** The TSMPI_COLL_* overrides, validated (TSMPI_ERR_ARG for an unknown collective or algorithm). */
export function collOverrides(): Readonly<Partial<Record<CollName, string>>> {
  return (overrides ??= parseCollOverrides(source));
}

/** The TSMPI_COLL_* overrides of `env`, validated; also checked when a rank starts (runtime/env/config.ts). */
export function parseCollOverrides(env: NodeJS.ProcessEnv): Partial<Record<CollName, string>> {
  const found: Partial<Record<CollName, string>> = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const coll = key.slice(ENV_PREFIX.length).toLowerCase();
    if (!(coll in COLL_ALGORITHMS)) {
      const known = Object.keys(COLL_ALGORITHMS).map((c) => ENV_PREFIX + c.toUpperCase());
      throw tsmpiError('TSMPI_ERR_ARG', `unknown collective in ${key}; known: ${known.join(', ')}`);
    }
    const value = raw.trim().toLowerCase();
    if (value === '' || value === 'auto') continue;
    const valid: readonly string[] = COLL_ALGORITHMS[coll as CollName];
    if (!valid.includes(value)) {
      throw tsmpiError('TSMPI_ERR_ARG', `${key}=${raw} is not an algorithm of ${coll}; valid: ${[...valid, 'auto'].join(', ')}`);
    }
    found[coll as CollName] = value;
  }
  return found;
}

/** The algorithm `coll` runs for this call. */
export function selectAlgorithm<C extends CollName>(coll: C, input: SelectionInput): AlgorithmOf<C> {
  const forced = collOverrides()[coll] as AlgorithmOf<C> | undefined;
  if (forced === undefined) return DEFAULTS[coll](input);
  const applicable = APPLICABLE[coll] as ((f: AlgorithmOf<C>, i: SelectionInput) => AlgorithmOf<C>) | undefined;
  return applicable ? applicable(forced, input) : forced;
}
