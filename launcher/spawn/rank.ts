// What the job (launcher/job.ts) needs of a running rank, wherever it runs: a local child process, an
// ssh session to an agent on another host, or one task of an srun step reporting over a channel.
import type { Readable, Writable } from 'node:stream';

export interface RankHandle {
  /** The local process, when there is one (a local rank, or the ssh client of a remote one). */
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Rank 0's stdin; null for the others. */
  readonly stdin: Writable | null;
  kill(signal: NodeJS.Signals): void;
  /**
   * Settles once the local process behind the rank has exited and been reaped, where that is later than
   * the rank's 'exit' (a rank thread reports its end before its host process ends). Absent for a rank
   * process, whose 'exit' is its reaping.
   */
  readonly processGone?: Promise<void>;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  /** The rank's last words before it exits failing (rank threads tell them through their host). */
  on(event: 'abort', listener: (code: number, what: string) => void): this;
}

/** The compiled agent (dist/launcher/spawn/agent.js): on every host at the same path, as the runtime is. */
export const AGENT_PATH = new URL('./agent.js', import.meta.url).pathname;
