// What tsmpirun and its rank agent (agent.ts) say to each other when a rank runs on another host (ssh or
// a launch agent) or under srun. Shared by both programs, so it imports nothing but node:crypto.
//
// The agent's stdin carries, in order:
//   1. the job secret, hex, one line (never on a command line or in an environment variable);
//   2. the header, JSON, one line (AgentHeader);
//   3. the bundle, `bundleBytes` bytes (the job's bundle: the job directory is local to tsmpirun);
//   4. under ssh: frames from tsmpirun (stdin data for rank 0, its end, signals). Under srun the stdin
//      is broadcast to every task and carries nothing more; frames travel on the TCP channel instead.
// End of file on stdin means tsmpirun is gone: the agent kills its rank.
//
// An agent may run several ranks as threads of one process (tsmpirun --ranks threads with --host): the
// header lists them (`ranks`), and the agent's stdout then carries frames up instead of raw output —
// each rank's output and exit status tagged with the rank (RankOutput, RankExit).
//
// Under srun every task's output shares srun's own streams (labels would cut long lines, and lines of
// different tasks could interleave), so each agent connects back to tsmpirun over TCP: tsmpirun sends a
// 16-byte nonce, the agent answers its rank (u32 LE) and agentProof(secret, nonce, rank); then frames
// flow both ways: output and the exit status up, stdin and signals down.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface AgentHeader {
  v: 1;
  /** The rank this agent runs; absent under srun, where the task's SLURM_PROCID is the rank. */
  rank?: number;
  /** The ranks this agent runs as threads of one process (--ranks threads), instead of `rank`. */
  ranks?: number[];
  /** Environment of the rank on top of the agent's own (TSMPI_* and the -x variables). */
  env: Record<string, string>;
  nodeArgs: string[];
  scriptArgs: string[];
  bundleBytes: number;
  /** The bundle's file name (one of JOB_BUNDLE_FILES): its extension tells Node how to load it. */
  bundleFile: string;
  /** The rank whose stdin tsmpirun forwards (the others get none). */
  stdinRank: number;
  /** Where output and the exit status go: the agent's own stdio (ssh) or a TCP connection (srun). */
  channel: { kind: 'stdio' } | { kind: 'tcp'; host: string; port: number };
  /** Host toward which the agent routes to choose its rank's TCP address (tsmpirun's), when TCP is used. */
  routeTo?: string;
  /** tsmpirun's job directory: the rank's private directory goes inside it when it exists on this host. */
  jobDir?: string;
}

/**
 * The job bundle's file name in each of its forms (launcher/transform.ts, BundleForm): Node loads a
 * .cjs file as CommonJS and an .mjs file as an ES module.
 */
export const JOB_BUNDLE_FILES = { script: 'main.cjs', module: 'main.mjs' } as const;

export const FrameKind = {
  /** tsmpirun → agent */
  Stdin: 1,
  StdinEnd: 2,
  /** Payload: the signal's name, e.g. SIGTERM. */
  Signal: 3,
  /** agent → tsmpirun (TCP channel only) */
  Stdout: 4,
  Stderr: 5,
  /** Payload: JSON { code: number | null, signal: string | null }. */
  Exit: 6,
  /** agent of several rank threads → tsmpirun (its stdout): the rank (u32 LE), then the stream's bytes. */
  RankStdout: 7,
  RankStderr: 8,
  /** The rank (u32 LE), then JSON { code: number | null, signal: string | null }. */
  RankExit: 9,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const FRAME_HEADER_BYTES = 5;
/** Larger frames are refused (output is sent in pieces of at most this much). */
export const MAX_FRAME_BYTES = 1 << 20;
export const NONCE_BYTES = 16;
export const PROOF_BYTES = 4 + 32;
export const MAX_HEADER_LINE_BYTES = 1 << 20;

export function encodeFrame(kind: FrameKind, payload: Uint8Array | string = new Uint8Array(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt8(kind, 0);
  frame.writeUInt32LE(body.length, 1);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/** Frames out of a byte stream that arrives in arbitrary chunks (joined only once a whole frame is there). */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes needed before anything can be parsed: a header, or the whole frame it announced. */
  private need = FRAME_HEADER_BYTES;

  constructor(private readonly onFrame: (kind: number, payload: Buffer) => void) {}

  /** Throws on a frame longer than MAX_FRAME_BYTES (the stream is then garbage). */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < this.need) return;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
    let at = 0;
    this.need = FRAME_HEADER_BYTES;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      const length = buf.readUInt32LE(at + 1);
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (buf.length - at < FRAME_HEADER_BYTES + length) {
        this.need = FRAME_HEADER_BYTES + length;
        break;
      }
      const kind = buf.readUInt8(at);
      const payload = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
      at += FRAME_HEADER_BYTES + length;
      this.onFrame(kind, payload);
    }
    const rest = buf.subarray(at);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have = rest.length;
  }
}

/** The agent's answer to tsmpirun's nonce: its rank and an HMAC of both under the job secret. */
export function agentProof(secret: Uint8Array, nonce: Uint8Array, rank: number): Buffer {
  const rankBytes = Buffer.allocUnsafe(4);
  rankBytes.writeUInt32LE(rank, 0);
  const mac = createHmac('sha256', secret).update('tsmpi-agent').update(nonce).update(rankBytes).digest();
  return Buffer.concat([rankBytes, mac]);
}

/** The rank a proof claims, or undefined when it does not prove the secret. */
export function checkAgentProof(secret: Uint8Array, nonce: Uint8Array, proof: Uint8Array, size: number): number | undefined {
  if (proof.length !== PROOF_BYTES) return undefined;
  const rank = Buffer.from(proof.buffer, proof.byteOffset, 4).readUInt32LE(0);
  if (rank >= size) return undefined;
  const expected = agentProof(secret, nonce, rank);
  return timingSafeEqual(expected, proof) ? rank : undefined;
}

/** Sends output in frames of at most MAX_FRAME_BYTES. */
export function outputFrames(kind: typeof FrameKind.Stdout | typeof FrameKind.Stderr, chunk: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_FRAME_BYTES) {
    frames.push(encodeFrame(kind, chunk.subarray(at, Math.min(chunk.length, at + MAX_FRAME_BYTES))));
  }
  return frames;
}

/** A frame about one rank: its number (u32 LE) before the payload. */
export function rankFrame(kind: typeof FrameKind.RankStdout | typeof FrameKind.RankStderr | typeof FrameKind.RankExit, rank: number, payload: Uint8Array): Buffer {
  const body = Buffer.allocUnsafe(4 + payload.length);
  body.writeUInt32LE(rank, 0);
  body.set(payload, 4);
  return encodeFrame(kind, body);
}

/** Output of one rank in frames of at most MAX_FRAME_BYTES. */
export function rankOutputFrames(kind: typeof FrameKind.RankStdout | typeof FrameKind.RankStderr, rank: number, chunk: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const step = MAX_FRAME_BYTES - 4;
  for (let at = 0; at < chunk.length; at += step) frames.push(rankFrame(kind, rank, chunk.subarray(at, Math.min(chunk.length, at + step))));
  return frames;
}

/** The bootstrap that precedes the frames on the agent's stdin. */
export function bootstrapBytes(secret: Uint8Array, header: AgentHeader): Buffer {
  return Buffer.from(`${Buffer.from(secret).toString('hex')}\n${JSON.stringify(header)}\n`, 'utf8');
}

/** Quotes a word for a POSIX shell (the remote login shell reads the command ssh sends). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
