// A rank's side of --profile, --trace and --comm-matrix: what to record (TSMPI_PROFILE, TSMPI_TRACE,
// TSMPI_COMM_MATRIX, set by tsmpirun for its ranks or by the user for a PMI launcher's), the clock
// alignment, and where the recording goes at the finalize fence (finalize.ts):
//  - under tsmpirun: over the control plane, in parts of at most 768 KiB (observe/format.ts), just
//    before the rank reports 'finished'; tsmpirun writes the outputs once the job has ended. A rank
//    that exits before its fence (an uncaught error, process.exit) sends what it has from its 'exit'
//    handler, as far as the socket takes it synchronously. Control messages rather than files in the
//    job directory: ranks on other hosts have no job directory in common with tsmpirun.
//  - under a PMI launcher (no tsmpirun): every rank writes its recording to a file in a directory
//    beside the first output (so it must be on a file system every host sees), the fence makes sure
//    all are written, and rank 0 reads them, writes the outputs and removes the directory. A job that
//    fails leaves its ranks' files there.
//  - a job of one rank writes its outputs itself.
// Clocks: ranks on the collector's host (tsmpirun's, or rank 0's under PMI) share its clock; others
// measure the collector's offset by ping-pong when they join and at their fence (observe/clock.ts),
// over the control plane (tsmpirun) or the data plane on a context no communicator uses (PMI).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tsmpiError } from '../errors.js';
import type { Engine } from '../p2p/engine.js';
import { holdLoop, releaseLoop } from '../p2p/liveness.js';
import { measureOffset, wallNow, CLOCK_ROUNDS } from '../observe/clock.js';
import { decodeRecording, encodeRecording, type Recording } from '../observe/format.js';
import type { OutputPlan } from '../observe/outputs.js';
import { DEFAULT_EVENT_CAP, UNOBSERVED_CONTEXT, type ObserveSettings, type Recorder } from '../observe/recorder.js';
import { dtypeOf } from '../wire/dtype.js';
import { hostIdentity } from './host.js';

/** The user-facing variables (config.ts knows them), and tsmpirun's own for its ranks. */
export const OBSERVE_VARIABLES = ['TSMPI_PROFILE', 'TSMPI_TRACE', 'TSMPI_COMM_MATRIX', 'TSMPI_OBSERVE_EVENTS', 'TSMPI_OBSERVE_CLOCK'] as const;

/** What the environment asks a rank to record, and (without tsmpirun) where to write it. */
export interface ObserveRequest {
  settings: ObserveSettings;
  /** Directory of the profile's report (TSMPI_PROFILE=1: the working directory, else its value). */
  profileDir: string | undefined;
  trace: string | undefined;
  matrix: string | undefined;
  /** Set by tsmpirun for its ranks: the host identity of tsmpirun (whose clock is the job's). */
  collectorHost: string | undefined;
}

/** Reads TSMPI_PROFILE, TSMPI_TRACE, TSMPI_COMM_MATRIX, TSMPI_OBSERVE_EVENTS; undefined when nothing is asked. */
export function readObserveRequest(env: NodeJS.ProcessEnv = process.env): ObserveRequest | undefined {
  const profile = env.TSMPI_PROFILE && env.TSMPI_PROFILE !== '0' ? env.TSMPI_PROFILE : undefined;
  const trace = env.TSMPI_TRACE || undefined;
  const matrix = env.TSMPI_COMM_MATRIX || undefined;
  if (!profile && !trace && !matrix) return undefined;
  if (matrix && !/\.svg$/i.test(matrix)) throw tsmpiError('TSMPI_ERR_ARG', `TSMPI_COMM_MATRIX=${matrix}: the matrix is an SVG file (FILE.svg; its numbers go to FILE.csv)`);
  const capText = env.TSMPI_OBSERVE_EVENTS;
  const cap = capText === undefined || capText === '' ? DEFAULT_EVENT_CAP : Number(capText);
  if (!Number.isInteger(cap) || cap < 0 || cap > 2 ** 30) throw tsmpiError('TSMPI_ERR_ARG', `TSMPI_OBSERVE_EVENTS=${capText} is not an integer in [0, 2^30]`);
  return {
    settings: { profile: profile !== undefined, trace: trace !== undefined, matrix: matrix !== undefined, eventCap: cap },
    profileDir: profile === undefined ? undefined : profile === '1' ? process.cwd() : resolve(profile),
    trace: trace && resolve(trace),
    matrix: matrix && resolve(matrix),
    collectorHost: env.TSMPI_OBSERVE_CLOCK || undefined,
  };
}

/** What finalize.ts does with a rank's recording at its fence. */
export interface ObserveSession {
  readonly recorder: Recorder;
  /** The program is done: recording stops and, where needed, the end offset of the clock is measured. */
  stop(): Promise<void>;
  /** Hands the recording over (to tsmpirun, or to the file rank 0 reads), before the fence. */
  handOver(): void;
  /** After the fence: rank 0 without tsmpirun writes the outputs. */
  afterFence(): Promise<void>;
}

/** The session of a rank started by tsmpirun; measures the clock offset now when on another host. */
export async function tsmpirunSession(
  recorder: Recorder, request: ObserveRequest, control: { clockPing(): Promise<number>; send(m: { t: 'observe'; part: Uint8Array }): void },
): Promise<ObserveSession> {
  const host = hostIdentity();
  const align = request.collectorHost !== undefined && request.collectorHost !== host;
  const measure = async () => {
    holdLoop();
    try {
      recorder.clockSamples.push(await measureOffset(() => control.clockPing()));
    } finally {
      releaseLoop();
    }
  };
  if (align) await measure();
  // The rank has joined: its application time starts now.
  recorder.start = performance.now();
  let sent = false;
  const handOver = (): void => {
    if (sent) return;
    sent = true;
    recorder.stop();
    for (const part of encodeRecording(recorder, host)) control.send({ t: 'observe', part });
  };
  // A rank that ends without its fence still sends what it recorded, as far as the socket takes it now.
  process.on('exit', handOver);
  return {
    recorder,
    async stop() {
      recorder.stop();
      if (align) await measure();
    },
    handOver,
    async afterFence() {},
  };
}

const CLOCK_TAG = 1;

/** One clock ping to rank 0 over the data plane: resolves with rank 0's clock. */
async function pingRank0(engine: Engine): Promise<number> {
  const answer = new Float64Array(1), ping = new Float64Array(1);
  const received = engine.recvTyped(answer, 0, CLOCK_TAG, UNOBSERVED_CONTEXT, dtypeOf(answer), null);
  await engine.sendTyped(ping, 0, CLOCK_TAG, UNOBSERVED_CONTEXT, dtypeOf(ping), false).wait();
  await received.wait();
  return answer[0]!;
}

/** Rank 0 answers CLOCK_ROUNDS pings of each of `ranks` with its clock. */
async function answerPings(engine: Engine, ranks: readonly number[]): Promise<void> {
  await Promise.all(ranks.map(async (peer) => {
    const ping = new Float64Array(1);
    for (let i = 0; i < CLOCK_ROUNDS; i++) {
      await engine.recvTyped(ping, peer, CLOCK_TAG, UNOBSERVED_CONTEXT, dtypeOf(ping), null).wait();
      await engine.sendTyped(Float64Array.of(wallNow()), peer, CLOCK_TAG, UNOBSERVED_CONTEXT, dtypeOf(ping), false).wait();
    }
  }));
}

/** The directory of the ranks' recordings under a PMI launcher: beside the first output, named by the job. */
function partsDirectory(request: ObserveRequest, jobToken: string): string {
  const anchor = request.trace ?? request.matrix ?? join(request.profileDir!, 'profile');
  return join(dirname(anchor), `.tsmpi-observe-${jobToken}`);
}

/**
 * The session of a rank without tsmpirun (PMI launcher, or a job of one rank). `hosts`: every rank's
 * host identity (ranks on rank 0's host need no clock alignment); `jobToken`: a name all ranks share.
 */
export async function selfSession(
  recorder: Recorder, request: ObserveRequest, engine: Engine, hosts: readonly string[], jobToken: string, script: string,
): Promise<ObserveSession> {
  const { rank, size } = recorder;
  const host = hosts[rank] ?? hostIdentity();
  const remote = [...hosts.keys()].filter((r) => r !== 0 && hosts[r] !== hosts[0]);
  const align = async () => {
    holdLoop();
    try {
      if (rank === 0) await answerPings(engine, remote);
      else if (remote.includes(rank)) recorder.clockSamples.push(await measureOffset(() => pingRank0(engine)));
    } finally {
      releaseLoop();
    }
  };
  await align();
  recorder.start = performance.now();
  const dir = size > 1 ? partsDirectory(request, jobToken) : '';
  const partFile = (r: number): string => join(dir, `rank-${r}.rec`);
  return {
    recorder,
    async stop() {
      recorder.stop();
      await align();
    },
    handOver() {
      if (size === 1) return;
      mkdirSync(dir, { recursive: true });
      const parts = encodeRecording(recorder, host);
      const framed: Uint8Array[] = [];
      for (const part of parts) {
        const length = Buffer.alloc(4);
        length.writeUInt32LE(part.length);
        framed.push(length, part);
      }
      writeFileSync(partFile(rank), Buffer.concat(framed));
    },
    async afterFence() {
      if (rank !== 0) return;
      const recordings: (Recording | undefined)[] = new Array(size).fill(undefined);
      const notes: string[] = [];
      if (size === 1) {
        recordings[0] = decodeRecording(encodeRecording(recorder, host), 0);
      } else {
        for (let r = 0; r < size; r++) {
          try {
            recordings[r] = decodeRecording(splitParts(readFileSync(partFile(r))), r);
          } catch (e) {
            notes.push(`rank ${r}: ${(e as Error).message}`);
          }
        }
        rmSync(dir, { recursive: true, force: true });
      }
      const plan: OutputPlan = { profileDir: request.profileDir, trace: request.trace, matrix: request.matrix, script, size, id: process.pid };
      // The writers (and zlib) load only in the rank that writes.
      const { writeOutputs } = await import('../observe/outputs.js');
      await writeOutputs(plan, recordings, notes, (text) => process.stderr.write(`${text}\n`));
    },
  };
}

/** The parts of a recording file (each a u32 length, then the part). */
function splitParts(file: Buffer): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let off = 0; off + 4 <= file.length;) {
    const n = file.readUInt32LE(off);
    if (off + 4 + n > file.length) throw tsmpiError('TSMPI_ERR_PROTOCOL', 'a recording file ends inside a part');
    parts.push(file.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  return parts;
}
