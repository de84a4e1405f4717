// Control-plane messages between tsmpirun and its ranks, shared by both programs. They travel as
// msgpack in binary WebSocket frames; `decodeControl` checks every field before the message is
// believed, so a malformed or hostile frame is a TSMPI_ERR_PROTOCOL and nothing else.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import { tsmpiError } from '../errors.js';

/** Largest control frame either side accepts (ws maxPayload). */
export const MAX_CONTROL_BYTES = 1 << 20;

export interface PendingOperationReport {
  /** recv, send, ssend, probe, or the name of a collective (bcast, allreduce, …). */
  op: string;
  comm: string;
  peer: number;
  tag: number;
  seconds: number;
  /** For a collective call: its communicator's collective context, and which call of it (1, 2, …) it is. */
  ctx?: number;
  number?: number;
}

export type ToRank =
  | { t: 'challenge'; nonce: Uint8Array }
  | { t: 'peers'; addresses: string[] }
  | { t: 'peer-lost'; rank: number; reason: string }
  /** `rank`'s program is done; `fin`: it sent this rank a FIN frame (wait for it before judging receives from it). */
  | { t: 'peer-finished'; rank: number; fin: boolean }
  /** Every rank's program is done: the finalize fence is over, connections may close. */
  | { t: 'all-finished' }
  /** World rank `rank` is in the same collective call (`ctx`, `tag`) with another call or root: fail it as a mismatch. */
  | { t: 'call-conflict'; ctx: number; tag: number; rank: number; op: string; root: number }
  | { t: 'report-state'; id: number }
  /** The answer to a rank's clock ping: tsmpirun's clock (ms since the epoch, observe/clock.ts wallNow). */
  | { t: 'clock'; id: number; time: number };

/** A rank's answer to 'report-state': what it waits for, and whether anything else could wake it. */
export interface RankState {
  ops: PendingOperationReport[];
  /** Waiting only for communication: an awaited operation is pending and no timer or I/O of the program's own is active. */
  blocked: boolean;
  /** The program is done: the rank waits in its finalize fence for the others. */
  finished: boolean;
  framesOut: number;
  framesIn: number;
  /** Bytes read from peers: moves while a large frame streams in. */
  bytesIn: number;
  /** Pending operations left out of `ops` (a report lists at most MAX_REPORTED_OPS). */
  omitted: number;
}

/** A state report lists at most this many operations, the longest-waiting first. */
export const MAX_REPORTED_OPS = 64;

export type ToLauncher =
  | { t: 'hello'; rank: number; pid: number; address: string; proof: Uint8Array }
  | { t: 'abort'; code: number; message: string }
  /** The program is done (finalize); `told`: the peers that got a FIN frame from this rank. */
  | { t: 'finished'; told: number[] }
  | ({ t: 'state'; id: number } & RankState)
  /** A part of this rank's recording (--profile, --trace, --comm-matrix; runtime/observe/format.ts), in order. */
  | { t: 'observe'; part: Uint8Array }
  /** Asks for tsmpirun's clock (clock alignment of ranks on other hosts). */
  | { t: 'clock'; id: number };

/** Largest part of a recording a control message carries (observe/format.ts PART_BYTES fits). */
export const MAX_OBSERVE_PART_BYTES = MAX_CONTROL_BYTES - 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeControl(message: ToRank | ToLauncher): Buffer {
  return packr.pack(message);
}

function fail(what: string): never {
  throw tsmpiError('TSMPI_ERR_PROTOCOL', `malformed control message: ${what}`);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isBytes(v: unknown, length?: number): v is Uint8Array {
  return v instanceof Uint8Array && (length === undefined || v.length === length);
}

function isShortString(v: unknown, max = 4096): v is string {
  return typeof v === 'string' && v.length <= max;
}

function unpack(data: Uint8Array): Record<string, unknown> {
  if (!(data instanceof Uint8Array) || data.length > MAX_CONTROL_BYTES) fail('not a bounded binary frame');
  let value: unknown;
  try {
    value = packr.unpack(data);
  } catch {
    fail('not msgpack');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not a map');
  return value as Record<string, unknown>;
}

function checkOps(ops: unknown): PendingOperationReport[] {
  if (!Array.isArray(ops) || ops.length > MAX_REPORTED_OPS) fail('ops');
  for (const o of ops as unknown[]) {
    const r = o as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || !isShortString(r.op, 64) || !isShortString(r.comm, 256)
      || !isInt(r.peer, -2, 2 ** 31) || !isInt(r.tag, -1, 2 ** 31) || typeof r.seconds !== 'number'
      || !Number.isFinite(r.seconds) || r.seconds < 0
      || (r.ctx !== undefined && !isInt(r.ctx, 0, 2 ** 32)) || (r.number !== undefined && !isInt(r.number, 1, 2 ** 31))) fail('op entry');
  }
  return ops as PendingOperationReport[];
}

export function decodeToLauncher(data: Uint8Array): ToLauncher {
  const m = unpack(data);
  switch (m.t) {
    case 'hello':
      if (!isInt(m.rank, 0, 2 ** 31) || !isInt(m.pid, 0, 2 ** 32) || !isShortString(m.address) || !isBytes(m.proof, 32)) fail('hello');
      return { t: 'hello', rank: m.rank, pid: m.pid, address: m.address, proof: m.proof };
    case 'abort':
      if (!isInt(m.code, -(2 ** 31), 2 ** 31) || !isShortString(m.message, 65536)) fail('abort');
      return { t: 'abort', code: m.code, message: m.message };
    case 'finished':
      if (!Array.isArray(m.told) || !m.told.every((r) => isInt(r, 0, 2 ** 31))) fail('finished');
      return { t: 'finished', told: m.told as number[] };
    case 'observe':
      if (!isBytes(m.part) || m.part.length < 1 || m.part.length > MAX_OBSERVE_PART_BYTES) fail('observe');
      return { t: 'observe', part: m.part };
    case 'clock':
      if (!isInt(m.id, 0, 2 ** 31)) fail('clock');
      return { t: 'clock', id: m.id };
    case 'state':
      if (!isInt(m.id, 0, 2 ** 31) || typeof m.blocked !== 'boolean' || typeof m.finished !== 'boolean' || !isInt(m.framesOut, 0, Number.MAX_SAFE_INTEGER)
        || !isInt(m.framesIn, 0, Number.MAX_SAFE_INTEGER) || !isInt(m.bytesIn, 0, Number.MAX_SAFE_INTEGER)
        || !isInt(m.omitted, 0, Number.MAX_SAFE_INTEGER)) fail('state');
      return {
        t: 'state', id: m.id, ops: checkOps(m.ops), blocked: m.blocked, finished: m.finished,
        framesOut: m.framesOut, framesIn: m.framesIn, bytesIn: m.bytesIn, omitted: m.omitted,
      };
    default:
      return fail(`unknown kind ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  }
}

export function decodeToRank(data: Uint8Array): ToRank {
  const m = unpack(data);
  switch (m.t) {
    case 'challenge':
      if (!isBytes(m.nonce, 16)) fail('challenge');
      return { t: 'challenge', nonce: m.nonce };
    case 'peers':
      if (!Array.isArray(m.addresses) || !m.addresses.every((a) => isShortString(a))) fail('peers');
      return { t: 'peers', addresses: m.addresses as string[] };
    case 'peer-lost':
      if (!isInt(m.rank, 0, 2 ** 31) || !isShortString(m.reason)) fail('peer-lost');
      return { t: 'peer-lost', rank: m.rank, reason: m.reason };
    case 'peer-finished':
      if (!isInt(m.rank, 0, 2 ** 31) || typeof m.fin !== 'boolean') fail('peer-finished');
      return { t: 'peer-finished', rank: m.rank, fin: m.fin };
    case 'all-finished':
      return { t: 'all-finished' };
    case 'call-conflict':
      if (!isInt(m.ctx, 0, 2 ** 32) || !isInt(m.tag, 0, 2 ** 31) || !isInt(m.rank, 0, 2 ** 31) || !isShortString(m.op, 64)
        || !isInt(m.root, -1, 2 ** 31)) fail('call-conflict');
      return { t: 'call-conflict', ctx: m.ctx, tag: m.tag, rank: m.rank, op: m.op, root: m.root };
    case 'report-state':
      if (!isInt(m.id, 0, 2 ** 31)) fail('report-state');
      return { t: 'report-state', id: m.id };
    case 'clock':
      if (!isInt(m.id, 0, 2 ** 31) || typeof m.time !== 'number' || !Number.isFinite(m.time)) fail('clock');
      return { t: 'clock', id: m.id, time: m.time };
    default:
      return fail(`unknown kind ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  }
}

/** A rank's proof of the job secret for the control connection (never the secret itself). */
export function controlProof(secret: Uint8Array, nonce: Uint8Array, rank: number): Buffer {
  return createHmac('sha256', secret).update('tsmpi-control').update(nonce).update(String(rank)).digest();
}

export function checkControlProof(secret: Uint8Array, nonce: Uint8Array, rank: number, proof: Uint8Array): boolean {
  const expected = controlProof(secret, nonce, rank);
  return proof.length === expected.length && timingSafeEqual(expected, proof);
}
