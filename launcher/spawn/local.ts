// Starts one rank as a process on this host: tsmpirun for its local ranks, the launch agent (agent.ts)
// on other hosts. The job secret goes down an inherited pipe (fd 3), never on a command line or in the
// environment. Where util-linux's setpriv exists, the rank is started with a parent-death signal, so
// even a SIGKILLed tsmpirun (or agent) leaves no rank behind, busy or not.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

export const SECRET_FD = 3;

/**
 * glibc malloc settings for ranks (unless the user set them): allocations up to 32 MiB (glibc's largest
 * mmap threshold) come from the heap, and up to 64 MiB of freed memory at its top is kept for reuse.
 * A received object lives in a fresh buffer of its size; with glibc's defaults every buffer over 128 KiB
 * (after the first) is a new mmap whose pages the kernel faults in and zeroes on first write, and then
 * unmaps again — here 16 MiB cost ~20 ms that way against ~1 ms into reused memory, and a ping-pong of
 * objects holding 16 MiB went from ~1.5 to ~3.6-4 GB/s. Open MPI sets the same knobs (mallopt) for its
 * registered-memory cache. Bounded on purpose: buffers of 32 MiB and more still go back to the system
 * when freed (MALLOC_MMAP_MAX_=0 would keep those too, ~4x faster for 256 MiB objects, at the price of
 * never returning such memory; a user can export it).
 */
const MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(64 * 1024 * 1024),
};

/**
 * The glibc tunable (2.35 and later; older versions ignore it) that has malloc madvise transparent huge
 * pages on the memory it maps. The buffers above that still come and go with each message, and the
 * kernel then faults them in 2 MiB at a time instead of 4 KiB: a ping-pong of 256 MiB objects went from
 * 0.80-0.96 to 1.56-1.83 GB/s; 1 and 16 MiB objects, 16 MiB Send/Recv and -np 16 start-up did not move
 * beyond noise, and a rank's resident memory grew by ~1 MiB. Where THP is off ("never") it does nothing.
 */
const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb';

/** GLIBC_TUNABLES for a rank: the user's, plus huge pages for malloc unless they chose otherwise. */
export function rankGlibcTunables(user: string | undefined): string {
  if (!user) return `${HUGE_PAGES_TUNABLE}=1`;
  if (user.split(':').some((setting) => setting.startsWith(`${HUGE_PAGES_TUNABLE}=`))) return user;
  return `${user}:${HUGE_PAGES_TUNABLE}=1`;
}

/** `env` with the malloc settings of a rank added (the user's own settings win). */
export function withRankMallocSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...MALLOC_ENV, ...env, GLIBC_TUNABLES: rankGlibcTunables(env.GLIBC_TUNABLES) };
}

/**
 * The process of rank threads: one malloc arena for all its threads. glibc gives each thread an arena
 * of its own, made of heaps of at most 64 MiB that go back to the system as soon as they are empty, so
 * the thresholds above did not keep a rank thread's freed buffers: every 16 MiB object a rank thread
 * received landed in memory touched for the first time (a 2-rank ping-pong of
 * `{ data: Float64Array(2 Mi) }` made 21-475 page faults per message and took 3.2-9.0 ms per half round
 * trip across jobs). In the one main arena they are reused as in a rank process: no page fault per
 * message, 3.0-3.4 ms. Small allocations come from each thread's own cache and take no lock; 8 B and
 * 1 MiB Send/Recv, 8 B objects and Allreduce of 1 Mi doubles did not move beyond noise.
 */
export function withThreadHostMallocSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { MALLOC_ARENA_MAX: '1', ...withRankMallocSettings(env) };
}

export interface LocalRankSpec {
  rank: number;
  /** Arguments of `node` (options, then the script and its arguments). */
  nodeArgv: string[];
  env: NodeJS.ProcessEnv;
  secret: Uint8Array;
  /** Rank 0 gets tsmpirun's stdin. */
  withStdin: boolean;
}

export function spawnLocalRank(spec: LocalRankSpec): ChildProcess {
  const [command, args] = hasSetpriv
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...spec.nodeArgv]]
    : [process.execPath, spec.nodeArgv];
  const child = spawn(command, args, {
    stdio: [spec.withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...withRankMallocSettings(spec.env), TSMPI_SECRET_FD: String(SECRET_FD) },
  });
  const secretPipe = child.stdio[SECRET_FD] as NodeJS.WritableStream | null;
  secretPipe?.on('error', () => {});
  secretPipe?.end(Buffer.from(spec.secret));
  return child;
}
