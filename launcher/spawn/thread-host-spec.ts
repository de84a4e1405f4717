// What tsmpirun (spawn/threads.ts) tells the process that runs a host's ranks as threads
// (spawn/thread-host.ts), and where that process finds its pipes.
import type { ResourceLimits } from 'node:worker_threads';

/** What tsmpirun tells the host (argv[2], JSON). */
export interface ThreadHostSpec {
  /** World ranks to run here, in order; rank ranks[i] writes to fds 5 + 2i and 6 + 2i. */
  ranks: number[];
  /** The job bundle (main.cjs or main.mjs). */
  bundle: string;
  /** The script's arguments. */
  argv: string[];
  /** The ranks' environment (TSMPI_RANK is added per rank). */
  env: Record<string, string>;
  /** Ranks spin while they wait (they fit the cores). */
  spin: boolean;
  /** Per-thread V8 limits from --node-arg (--max-old-space-size and friends). */
  resourceLimits: ResourceLimits;
  /** World rank that reads tsmpirun's stdin, if it runs here. */
  stdinRank: number | undefined;
}

export const SECRET_FD = 3;
/** The host's reports to tsmpirun: a JSON line per rank that ends, after its last words if it failed. */
export const STATUS_FD = 4;
export const FIRST_OUTPUT_FD = 5;
