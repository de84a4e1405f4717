// tsmpirun's side of --profile, --trace FILE and --comm-matrix FILE.svg: tells the ranks what to record
// (the TSMPI_* twins, and tsmpirun's host, whose clock the job's times are put on), collects the parts
// of their recordings from the control plane as they arrive (at each rank's finalize fence, or from a
// rank's exit when it fails), and writes the outputs once the job has ended — also when it failed,
// from whatever arrived; ranks that sent nothing are named in the outputs.
import { decodeRecording, type Recording } from '../runtime/observe/format.js';
import { writeOutputs } from '../runtime/observe/outputs.js';
import { hostIdentity } from '../runtime/env/host.js';
import type { ObserveOptions } from './options.js';

/**
 * The options as the twins a rank reads when it writes its outputs itself: tsmpirun run as a task of
 * a PMI launcher (spawn/pmi-task.ts) is one rank, and rank 0 writes what the job recorded.
 */
export function observeTwins(o: ObserveOptions): Record<string, string> {
  return { TSMPI_PROFILE: o.profile ?? '', TSMPI_TRACE: o.trace ?? '', TSMPI_COMM_MATRIX: o.matrix ?? '' };
}

/** Bytes of recording accepted per rank (a rank cannot make tsmpirun hold more). */
const MAX_RECORDING_BYTES = 1 << 30;

export class ObserveCollector {
  readonly #options: ObserveOptions;
  readonly #parts: Uint8Array[][];
  readonly #bytes: number[];
  readonly #overflow = new Set<number>();

  constructor(options: ObserveOptions, readonly np: number, readonly script: string) {
    this.#options = options;
    this.#parts = Array.from({ length: np }, () => []);
    this.#bytes = new Array<number>(np).fill(0);
  }

  /** Anything to record. */
  get active(): boolean {
    const o = this.#options;
    return o.profile !== undefined || o.trace !== undefined || o.matrix !== undefined;
  }

  /**
   * The ranks' observe variables when the job records: what to record, and tsmpirun's host. None
   * otherwise (tsmpirun's environment then has no twin for the ranks to inherit either).
   */
  rankEnv(): Record<string, string> {
    return this.active ? { ...observeTwins(this.#options), TSMPI_OBSERVE_CLOCK: hostIdentity() } : {};
  }

  /** A part of `rank`'s recording. */
  add(rank: number, part: Uint8Array): void {
    if (!this.active || rank >= this.np) return;
    if (this.#bytes[rank]! + part.length > MAX_RECORDING_BYTES) {
      this.#overflow.add(rank);
      return;
    }
    this.#bytes[rank]! += part.length;
    this.#parts[rank]!.push(part);
  }

  /** Writes the outputs; `exitStatus`: the job's (a failed job's outputs say so). */
  async write(exitStatus: number, say: (line: string) => void): Promise<void> {
    if (!this.active) return;
    const notes: string[] = [];
    if (exitStatus !== 0) notes.push(`the job failed (exit status ${exitStatus}): each rank's recording ends where the rank stopped`);
    const recordings: (Recording | undefined)[] = this.#parts.map((parts, rank) => {
      if (parts.length === 0) return undefined;
      try {
        return decodeRecording(parts, rank);
      } catch (e) {
        notes.push((e as Error).message);
        return undefined;
      }
    });
    for (const rank of this.#overflow) notes.push(`rank ${rank}'s recording exceeded ${MAX_RECORDING_BYTES} bytes: the rest was not kept`);
    const o = this.#options;
    await writeOutputs({
      profileDir: o.profile, trace: o.trace, matrix: o.matrix, script: this.script, size: this.np, id: process.pid,
    }, recordings, notes, say);
  }
}
