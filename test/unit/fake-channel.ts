// An in-process world of p ranks for testing the collectives without the point-to-point engine: each
// rank gets a CollChannel backed by in-memory queues that match on (source, tag) exactly, in send
// order. Deliveries are asynchronous (a seeded random number of setImmediate hops, FIFO per pair of
// ranks) so that an algorithm relying on a lucky ordering fails here. Typed receives check the
// element kind (TSMPI_ERR_TYPE) and the size (TSMPI_ERR_TRUNCATE) as the engine will; the object
// codec is v8.serialize unless a test passes another, so these tests do not depend on the real codec. Each rank's sends are
// counted, and a watchdog turns a hang (no activity while some rank is still waiting) into an error.
import v8 from 'node:v8';
import type { CollChannel } from '../../runtime/coll/channel.js';
import { tsmpiError, type TsmpiErrorCode } from '../../runtime/errors.js';
import { dtypeName, dtypeOf, type TypedArray } from '../../runtime/wire/dtype.js';
import { mulberry32 } from '../helpers/random.js';

type Message =
  | { kind: 'typed'; dtype: number; data: TypedArray }
  | { kind: 'encoded'; bytes: Uint8Array }
  | { kind: 'error'; code: TsmpiErrorCode; message: string };

export interface WorldOptions {
  /** Random extra delivery delay (still FIFO per pair); default true. */
  jitter?: boolean;
  seed?: number;
  /** The object codec; default v8.serialize/deserialize (cut into two parts). */
  codec?: ObjectCodec;
}

export interface ObjectCodec {
  encode(value: unknown): readonly Uint8Array[];
  decode(bytes: Uint8Array): unknown;
}

/** v8 serialization, cut in two parts so that callers must treat an encoding as a list of chunks. */
const V8_CODEC: ObjectCodec = {
  encode(value) {
    const bytes = new Uint8Array(v8.serialize(value));
    const cut = bytes.length >> 1;
    return [bytes.subarray(0, cut), bytes.subarray(cut)];
  },
  decode: (bytes) => v8.deserialize(bytes),
};

export class FakeWorld {
  readonly channels: FakeChannel[];
  /** Data messages (typed or encoded) sent by each rank. */
  readonly sent: number[];
  /** Error markers sent by each rank. */
  readonly errorsSent: number[];
  /** Completion notices sent by each rank (not counted in `sent`). */
  readonly noticesSent: number[];
  /** Time of the last send, delivery or receive: the hang watchdog's idea of progress. */
  lastActivity = Date.now();
  private readonly queues = new Map<string, Message[]>();
  private readonly waiters = new Map<string, ((m: Message) => void)[]>();
  private readonly pairTail = new Map<string, Promise<void>>();
  private random: () => number;

  constructor(readonly size: number, readonly options: WorldOptions = {}) {
    this.channels = Array.from({ length: size }, (_, rank) => new FakeChannel(this, rank));
    this.sent = new Array<number>(size).fill(0);
    this.errorsSent = new Array<number>(size).fill(0);
    this.noticesSent = new Array<number>(size).fill(0);
    this.random = mulberry32(options.seed ?? 12345);
  }

  /** Delivers `message` to `dest` after an asynchronous delay, after every earlier message of this pair. */
  post(source: number, dest: number, tag: number, message: Message): Promise<void> {
    if (!Number.isInteger(dest) || dest < 0 || dest >= this.size) {
      return Promise.reject(tsmpiError('TSMPI_ERR_RANK', `send to rank ${dest} of ${this.size}`));
    }
    this.lastActivity = Date.now();
    const pair = `${source}>${dest}`;
    const hops = this.options.jitter === false ? 1 : 1 + Math.floor(this.random() * 4);
    const delivered = (this.pairTail.get(pair) ?? Promise.resolve())
      .then(() => immediateHops(hops))
      .then(() => this.enqueue(dest, source, tag, message));
    this.pairTail.set(pair, delivered);
    return delivered;
  }

  take(dest: number, source: number, tag: number): Promise<Message> {
    this.lastActivity = Date.now();
    const key = `${dest}<${source}#${tag}`;
    const queued = this.queues.get(key);
    if (queued?.length) {
      const message = queued.shift()!;
      if (!queued.length) this.queues.delete(key);
      return Promise.resolve(message);
    }
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? [];
      list.push(resolve);
      this.waiters.set(key, list);
    });
  }

  /** Messages delivered but never received (e.g. error markers to ranks that had finished). */
  unmatched(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  private enqueue(dest: number, source: number, tag: number, message: Message): void {
    this.lastActivity = Date.now();
    const key = `${dest}<${source}#${tag}`;
    const waiting = this.waiters.get(key);
    if (waiting?.length) {
      const resolve = waiting.shift()!;
      if (!waiting.length) this.waiters.delete(key);
      resolve(message);
      return;
    }
    const list = this.queues.get(key) ?? [];
    list.push(message);
    this.queues.set(key, list);
  }
}

export class FakeChannel implements CollChannel {
  readonly size: number;

  constructor(
    private readonly world: FakeWorld,
    readonly rank: number,
  ) {
    this.size = world.size;
  }

  send(buf: TypedArray, dest: number, tag: number): Promise<void> {
    this.world.sent[this.rank]!++;
    return this.#postTyped(buf, dest, tag);
  }

  #postTyped(buf: TypedArray, dest: number, tag: number): Promise<void> {
    const dtype = dtypeOf(buf);
    if (dtype <= 0) return Promise.reject(tsmpiError('TSMPI_ERR_TYPE', 'send of a non-typed array'));
    // Copied now, as an eager send would: the caller may reuse buf once this resolves.
    return this.world.post(this.rank, dest, tag, { kind: 'typed', dtype, data: buf.slice() });
  }

  async recv(buf: TypedArray, source: number, tag: number): Promise<number> {
    const message = await this.world.take(this.rank, source, tag);
    if (message.kind === 'error') throw tsmpiError(message.code, message.message);
    if (message.kind !== 'typed') throw tsmpiError('TSMPI_ERR_TYPE', `typed recv from ${source} matched an object message`);
    if (message.dtype !== dtypeOf(buf)) {
      throw tsmpiError('TSMPI_ERR_TYPE', `received ${dtypeName(message.dtype)} into ${dtypeName(dtypeOf(buf))}`);
    }
    if (message.data.length > buf.length) {
      throw tsmpiError('TSMPI_ERR_TRUNCATE', `${message.data.length} elements into a buffer of ${buf.length}`);
    }
    buf.set(message.data as never);
    return message.data.length;
  }

  sendEncoded(parts: readonly Uint8Array[], dest: number, tag: number): Promise<void> {
    this.world.sent[this.rank]!++;
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return this.world.post(this.rank, dest, tag, { kind: 'encoded', bytes });
  }

  async recvEncoded(source: number, tag: number): Promise<Uint8Array> {
    const message = await this.world.take(this.rank, source, tag);
    if (message.kind === 'error') throw tsmpiError(message.code, message.message);
    if (message.kind !== 'encoded') throw tsmpiError('TSMPI_ERR_TYPE', `object recv from ${source} matched a typed message`);
    return message.bytes;
  }

  encode(value: unknown): readonly Uint8Array[] {
    return (this.world.options.codec ?? V8_CODEC).encode(value);
  }

  decode(bytes: Uint8Array): unknown {
    return (this.world.options.codec ?? V8_CODEC).decode(bytes);
  }

  sendNotice(dest: number, tag: number, shape?: Float64Array): Promise<void> {
    this.world.noticesSent[this.rank]!++;
    return this.#postTyped(shape ?? new Uint8Array(0), dest, tag);
  }

  async recvNotice(source: number, tag: number, into?: Float64Array): Promise<void> {
    await this.recv(into ?? new Uint8Array(0), source, tag);
  }

  sendError(code: TsmpiErrorCode, message: string, dest: number, tag: number): Promise<void> {
    this.world.errorsSent[this.rank]!++;
    return this.world.post(this.rank, dest, tag, { kind: 'error', code, message });
  }
}

/**
 * Runs `body` on every rank of a new world and settles with each rank's outcome. Rejects if the ranks
 * hang: some rank still pending while nothing has moved for `hangMs`, counted in ticks of a 25 ms timer
 * that each found the world idle, not in wall time: on a loaded machine this process may be stopped for
 * more than a second, and the first tick after that would otherwise call the still-waiting work a hang.
 */
export async function runWorld<T>(
  size: number,
  body: (ch: FakeChannel, rank: number) => Promise<T>,
  options: WorldOptions & { hangMs?: number } = {},
): Promise<{ results: PromiseSettledResult<T>[]; world: FakeWorld }> {
  const world = new FakeWorld(size, options);
  const pending = new Set<number>(world.channels.map((ch) => ch.rank));
  const all = Promise.allSettled(
    world.channels.map((ch) =>
      Promise.resolve()
        .then(() => body(ch, ch.rank))
        .finally(() => pending.delete(ch.rank)),
    ),
  );
  const hangMs = options.hangMs ?? 1000;
  let timer: NodeJS.Timeout | undefined;
  const tickMs = 25;
  let idleTicks = 0;
  let activitySeen = world.lastActivity;
  const hang = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      idleTicks = world.lastActivity === activitySeen ? idleTicks + 1 : 0;
      activitySeen = world.lastActivity;
      if (pending.size && idleTicks * tickMs > hangMs) {
        reject(new Error(`hang: ranks ${[...pending].join(', ')} of ${size} never settled`));
      }
    }, tickMs);
  });
  try {
    return { results: await Promise.race([all, hang]), world };
  } finally {
    clearInterval(timer);
  }
}

/** runWorld, expecting every rank to succeed: their results in rank order. */
export async function onAllRanks<T>(
  size: number,
  body: (ch: FakeChannel, rank: number) => Promise<T>,
  options?: WorldOptions & { hangMs?: number },
): Promise<T[]> {
  const { results } = await runWorld(size, body, options);
  return results.map((r, rank) => {
    if (r.status === 'rejected') {
      const err = r.reason as Error;
      err.message = `rank ${rank}: ${err.message}`;
      throw err;
    }
    return r.value;
  });
}

function immediateHops(n: number): Promise<void> {
  return new Promise((resolve) => {
    const hop = (left: number): void => {
      if (left === 0) resolve();
      else setImmediate(hop, left - 1);
    };
    hop(n);
  });
}

// ---------------------------------------------------------------------------------------------
// Test data shared by the coll*.test.ts files: the typed-array kinds, contributions per rank, and a
// reference for every predefined op written independently of runtime/coll/ops.ts (a plain
// element-by-element left fold in rank order).

export const SIZES = [1, 2, 3, 4, 5, 8] as const;

export const KINDS = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;
export type Kind = (typeof KINDS)[number];

export const OP_NAMES = [
  'SUM', 'PROD', 'MAX', 'MIN', 'LAND', 'LOR', 'LXOR', 'BAND', 'BOR', 'BXOR', 'MAXLOC', 'MINLOC', 'REPLACE', 'NO_OP',
] as const;
export type OpName = (typeof OP_NAMES)[number];

export function ranks(size: number): number[] {
  return Array.from({ length: size }, (_, r) => r);
}

export function isBigKind(kind: Kind): boolean {
  return kind === BigInt64Array || kind === BigUint64Array;
}

export function isFloatKind(kind: Kind): boolean {
  return kind === Float32Array || kind === Float64Array;
}

/** A typed array of `kind` with element i = f(i) (converted to BigInt for the BigInt kinds). */
export function fill(kind: Kind, length: number, f: (i: number) => number): TypedArray {
  const out = new kind(length);
  for (let i = 0; i < length; i++) (out as unknown as unknown[])[i] = isBigKind(kind) ? BigInt(f(i)) : f(i);
  return out;
}

export function opApplies(op: OpName, kind: Kind): boolean {
  return !(isFloatKind(kind) && (op === 'BAND' || op === 'BOR' || op === 'BXOR'));
}

export function isLoc(op: OpName): op is 'MAXLOC' | 'MINLOC' {
  return op === 'MAXLOC' || op === 'MINLOC';
}

/**
 * Rank `rank`'s contribution for `op`: small values (0…3; 1…3 for PROD) so nothing overflows even the
 * 8-bit kinds at p = 8; for MAXLOC/MINLOC interleaved [value, rank] pairs with ties across ranks.
 */
export function contribution(kind: Kind, op: OpName, rank: number, length: number): TypedArray {
  if (isLoc(op)) return fill(kind, length, (i) => (i % 2 ? rank : ((rank * 5 + i * 3) >> 1) % 4));
  if (op === 'PROD') return fill(kind, length, (i) => 1 + ((rank + i) % 3));
  return fill(kind, length, (i) => (rank * 5 + i * 3) % 4);
}

/** An element of any kind: number or bigint, combined with the operators both support. */
type Num = any;
const truth = (v: boolean, big: boolean): Num => (big ? (v ? 1n : 0n) : v ? 1 : 0);
const nz = (x: Num): boolean => x != 0; // loose: 0n != 0 is false too

const REFERENCE: Record<Exclude<OpName, 'MAXLOC' | 'MINLOC'>, (x: Num, y: Num) => Num> = {
  SUM: (x, y) => x + y,
  PROD: (x, y) => x * y,
  MAX: (x, y) => (x > y ? x : y),
  MIN: (x, y) => (x < y ? x : y),
  LAND: (x, y) => truth(nz(x) && nz(y), typeof x === 'bigint'),
  LOR: (x, y) => truth(nz(x) || nz(y), typeof x === 'bigint'),
  LXOR: (x, y) => truth(nz(x) !== nz(y), typeof x === 'bigint'),
  BAND: (x, y) => x & y,
  BOR: (x, y) => x | y,
  BXOR: (x, y) => x ^ y,
  REPLACE: (_x, y) => y,
  NO_OP: (x) => x,
};

/** a op b, element by element (pairs for MAXLOC/MINLOC, ties to the lower index). */
export function referenceCombine(op: OpName, a: TypedArray, b: TypedArray): TypedArray {
  const x = a as unknown as Num[];
  const y = b as unknown as Num[];
  const out = a.slice() as unknown as Num[];
  if (isLoc(op)) {
    for (let i = 0; i < a.length; i += 2) {
      const better = op === 'MAXLOC' ? y[i] > x[i] : y[i] < x[i];
      if (better || (y[i] === x[i] && y[i + 1] < x[i + 1])) {
        out[i] = y[i];
        out[i + 1] = y[i + 1];
      }
    }
  } else {
    for (let i = 0; i < a.length; i++) out[i] = REFERENCE[op](x[i], y[i]);
  }
  return out as unknown as TypedArray;
}

/** Left fold of the contributions in rank order. */
export function referenceReduce(op: OpName, parts: readonly TypedArray[]): TypedArray {
  return parts.slice(1).reduce((acc, part) => referenceCombine(op, acc, part), parts[0]!.slice());
}

/** Plain array of a typed array's elements, for toEqual. */
export function elements(buf: TypedArray): unknown[] {
  return Array.from(buf as ArrayLike<unknown>);
}
