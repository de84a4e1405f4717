// Seeded fuzzing of the control-plane decoders (runtime/control/messages.ts): `decodeToLauncher` (what
// tsmpirun believes from a connection) and `decodeToRank` (what a rank believes from tsmpirun). Issue 6:
// malformed input — random bytes, truncated or mutated valid messages, absurd msgpack lengths, unknown
// kinds, wrong field types, oversized frames — must be rejected with TsmpiError TSMPI_ERR_PROTOCOL and
// nothing else; and what a decoder accepts must be a well-formed message of its union (so that the code
// consuming it can trust every field). Each decoder gets at least 100 000 inputs; every input must be
// decided quickly (no allocation or loop sized by an unchecked length).
import { Packr } from 'msgpackr';
import { beforeAll, describe, expect, it } from 'vitest';
import { TsmpiError } from '../../runtime/errors.js';
import {
  MAX_CONTROL_BYTES, MAX_OBSERVE_PART_BYTES, decodeToLauncher, decodeToRank, encodeControl, type ToLauncher, type ToRank,
} from '../../runtime/control/messages.js';
import { mulberry32 } from '../helpers/random.js';

const SEED = 0x6c0d_e6f2;
const INPUTS_PER_DECODER = 100_000;
/** One decision must not take longer than this (a generous bound for a 2-core CI machine). */
const SLOW_MS = 100;

const random = mulberry32(SEED);
const below = (n: number): number => Math.floor(random() * n);
const chance = (p: number): boolean => random() < p;
const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)]!;

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = below(256);
  return b;
}

function randomString(max: number): string {
  const n = below(max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(chance(0.9) ? 32 + below(95) : below(0x3000));
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Values: well-formed ones, and anything at all

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const KINDS_TO_LAUNCHER = ['hello', 'abort', 'finished', 'state', 'observe', 'clock'] as const;
const KINDS_TO_RANK = ['challenge', 'peers', 'peer-lost', 'peer-finished', 'all-finished', 'call-conflict', 'report-state', 'clock'] as const;
const ALL_KINDS = [...KINDS_TO_LAUNCHER, ...KINDS_TO_RANK];

function validOp(): Record<string, unknown> {
  const op = {
    op: pick(['recv', 'send', 'ssend', 'probe', 'bcast', 'allreduce', 'barrier']),
    comm: pick(['COMM_WORLD', 'COMM_WORLD (collective)', 'context 12']),
    peer: below(8) - 2, tag: below(100) - 1, seconds: random() * 10,
  };
  return chance(0.5) ? op : { ...op, ctx: below(4096), number: 1 + below(1000) };
}

function validToLauncher(): ToLauncher {
  switch (pick(KINDS_TO_LAUNCHER)) {
    case 'hello': return { t: 'hello', rank: below(64), pid: below(2 ** 22), address: `unix:/tmp/tsmpi-x/r${below(64)}.sock`, proof: randomBytes(32) };
    case 'abort': return { t: 'abort', code: below(256), message: randomString(60) };
    case 'finished': return { t: 'finished', told: Array.from({ length: below(5) }, () => below(64)) };
    case 'observe': return { t: 'observe', part: randomBytes(1 + below(64)) };
    case 'clock': return { t: 'clock', id: below(1000) };
    default: return {
      t: 'state', id: below(1000), ops: Array.from({ length: below(4) }, validOp) as never, blocked: chance(0.5), finished: chance(0.5),
      framesOut: below(1e6), framesIn: below(1e6), bytesIn: below(1e9), omitted: below(1e6),
    };
  }
}

function validToRank(): ToRank {
  switch (pick(KINDS_TO_RANK)) {
    case 'challenge': return { t: 'challenge', nonce: randomBytes(16) };
    case 'peers': return { t: 'peers', addresses: Array.from({ length: below(5) }, (_, i) => `tcp:127.0.0.1:${4000 + i}`) };
    case 'peer-lost': return { t: 'peer-lost', rank: below(64), reason: randomString(40) };
    case 'peer-finished': return { t: 'peer-finished', rank: below(64), fin: chance(0.5) };
    case 'all-finished': return { t: 'all-finished' };
    case 'call-conflict': return { t: 'call-conflict', ctx: below(4096), tag: below(1000), rank: below(64), op: pick(['bcast', 'gather']), root: below(8) - 1 };
    case 'clock': return { t: 'clock', id: below(1000), time: 1.7e12 + random() * 1e9 };
    default: return { t: 'report-state', id: below(1000) };
  }
}

/** Any value msgpackr can encode, biased towards what the validators look at. */
function anyValue(depth = 0): unknown {
  switch (below(depth > 2 ? 14 : 17)) {
    case 0: return below(2 ** 31) - 2 ** 30;
    case 1: return pick([0, -1, -0, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, NaN, Infinity, -Infinity]);
    case 2: return random() * 1e6 - 5e5;
    case 3: return randomString(20);
    case 4: return pick([true, false, null, undefined]);
    case 5: return randomBytes(pick([0, 15, 16, 17, 31, 32, 33, below(80)]));
    case 6: return BigInt(below(2 ** 31)) * (chance(0.5) ? 1n : 2n ** 40n);
    case 7: return new Date(below(2 ** 31) * 1000);
    case 8: return pick(ALL_KINDS);
    case 9: return 'x'.repeat(chance(0.05) ? pick([65536, 65537, 70_000]) : pick([64, 65, 256, 257, 4096, 4097]));
    case 10: return new Float64Array(below(4));
    case 11: return new Uint16Array(pick([8, 16]));
    case 12: return [];
    case 13: return {};
    case 14: return Array.from({ length: below(5) }, () => anyValue(depth + 1));
    case 15: return Object.fromEntries(Array.from({ length: below(5) }, () => [pick(['t', 'rank', 'op', 'ops', 'nonce', randomString(4)]), anyValue(depth + 1)]));
    default: return new Map([[anyValue(depth + 1), anyValue(depth + 1)]]);
  }
}

/** A message of a known (or unknown) kind whose fields are replaced, dropped or added at random. */
function structuredMessage(valid: () => Record<string, unknown>): unknown {
  const m: Record<string, unknown> = { ...valid() };
  const keys = Object.keys(m);
  const edits = 1 + below(3);
  for (let e = 0; e < edits; e++) {
    switch (below(6)) {
      case 0: m[pick(keys)] = anyValue(); break;
      case 1: delete m[pick(keys)]; break;
      case 2: m[randomString(6)] = anyValue(); break;
      case 3: m.t = chance(0.5) ? pick(ALL_KINDS) : anyValue(); break;
      case 4:
        if (Array.isArray(m.ops)) (m.ops as unknown[]).push(chance(0.5) ? anyValue() : { ...validOp(), [pick(['op', 'comm', 'peer', 'tag', 'seconds'])]: anyValue() });
        else if (Array.isArray(m.addresses)) (m.addresses as unknown[]).push(anyValue());
        else m[pick(keys)] = anyValue();
        break;
      default: return chance(0.5) ? anyValue() : [m];
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// Byte-level inputs

/** Hand-made msgpack prefixes announcing absurd sizes or odd types (extensions, huge containers). */
function absurdMsgpack(): Uint8Array {
  const big = [0xff, 0xff, 0xff, 0xff];
  const heads = [
    [0xdd, ...big], [0xdc, 0xff, 0xff], [0xdf, ...big], [0xde, 0xff, 0xff], // array32/16, map32/16
    [0xdb, ...big], [0xda, 0xff, 0xff], [0xd9, 0xff], // str32/16/8
    [0xc6, ...big], [0xc5, 0xff, 0xff], [0xc4, 0xff], // bin32/16/8
    [0xc9, ...big, below(256)], [0xc8, 0xff, 0xff, below(256)], [0xc7, 0xff, below(256)], // ext32/16/8
    [0xd4, below(256)], [0xd5, below(256)], [0xd6, below(256)], [0xd7, below(256)], [0xd8, below(256)], // fixext
    [0x81, 0xa1, 0x74], [0x8f], [0x9f], [0xc1], // map {t: …}, fixmap/fixarray of 15, never-used byte
  ];
  const parts: number[] = [];
  const n = 1 + below(4);
  for (let i = 0; i < n; i++) parts.push(...pick(heads));
  const tail = randomBytes(below(24));
  return Uint8Array.from([...parts, ...tail]);
}

function mutate(bytes: Uint8Array): Uint8Array {
  let b = Uint8Array.from(bytes);
  const n = 1 + below(4);
  for (let k = 0; k < n; k++) {
    switch (below(7)) {
      case 0: if (b.length > 0) { const i = below(b.length); b[i]! ^= 1 << below(8); } break;
      case 1: if (b.length > 0) b[below(b.length)] = below(256); break;
      case 2: b = b.subarray(0, below(b.length + 1)); break;
      case 3: { const i = below(b.length + 1); b = Uint8Array.from([...b.subarray(0, i), ...randomBytes(1 + below(8)), ...b.subarray(i)]); break; }
      case 4: if (b.length > 1) { const i = below(b.length); b = Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + 1 + below(4))]); } break;
      case 5: if (b.length > 0) b[below(b.length)] = pick([0xc1, 0xdd, 0xdf, 0xdb, 0xc6, 0xc9, 0xd4, 0xd8, 0x00, 0xff, 0x7f, 0x80, 0x90]); break;
      default: b = Uint8Array.from([...b, ...b.subarray(0, below(b.length + 1))]); break;
    }
  }
  return b;
}

function encodeAny(value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch {
    return randomBytes(8);
  }
}

function nextInput(valid: () => Record<string, unknown>): Uint8Array {
  const r = random();
  if (r < 0.15) return randomBytes(below(chance(0.1) ? 2000 : 64));
  if (r < 0.45) return mutate(encodeControl(valid() as never));
  if (r < 0.80) return encodeAny(structuredMessage(valid));
  if (r < 0.95) return absurdMsgpack();
  if (r < 0.97) return encodeControl(valid() as never).subarray(0, below(8)); // truncated
  return encodeAny(anyValue());
}

// ---------------------------------------------------------------------------------------------------------
// What an accepted message must look like

const isInt = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isStr = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;
const isBytes = (v: unknown, n: number) => v instanceof Uint8Array && v.length === n;
const exactKeys = (m: object, keys: string[]) => Object.keys(m).sort().join(',') === [...keys].sort().join(',');

function wellFormedToLauncher(m: ToLauncher): string | undefined {
  switch (m.t) {
    case 'hello':
      return exactKeys(m, ['t', 'rank', 'pid', 'address', 'proof']) && isInt(m.rank, 0, 2 ** 31) && isInt(m.pid, 0, 2 ** 32)
        && isStr(m.address, 4096) && isBytes(m.proof, 32) ? undefined : 'hello';
    case 'abort':
      return exactKeys(m, ['t', 'code', 'message']) && isInt(m.code, -(2 ** 31), 2 ** 31) && isStr(m.message, 65536) ? undefined : 'abort';
    case 'finished':
      return exactKeys(m, ['t', 'told']) && Array.isArray(m.told) && m.told.every((r) => isInt(r, 0, 2 ** 31)) ? undefined : 'finished';
    case 'observe':
      return exactKeys(m, ['t', 'part']) && m.part instanceof Uint8Array && m.part.length >= 1 && m.part.length <= MAX_OBSERVE_PART_BYTES ? undefined : 'observe';
    case 'clock':
      return exactKeys(m, ['t', 'id']) && isInt(m.id, 0, 2 ** 31) ? undefined : 'clock';
    case 'state': {
      if (!exactKeys(m, ['t', 'id', 'ops', 'blocked', 'finished', 'framesOut', 'framesIn', 'bytesIn', 'omitted']) || !isInt(m.id, 0, 2 ** 31)
        || typeof m.blocked !== 'boolean' || typeof m.finished !== 'boolean' || !Array.isArray(m.ops)) return 'state';
      for (const f of [m.framesOut, m.framesIn, m.bytesIn, m.omitted]) if (!isInt(f, 0, Number.MAX_SAFE_INTEGER)) return 'state counters';
      for (const o of m.ops) {
        if (typeof o !== 'object' || o === null || !isStr(o.op, 64) || !isStr(o.comm, 256) || !isInt(o.peer, -2, 2 ** 31)
          || !isInt(o.tag, -1, 2 ** 31)) return 'state op';
        if (typeof o.seconds !== 'number' || !Number.isFinite(o.seconds) || o.seconds < 0) return `state op seconds ${o.seconds}`;
        if ((o.ctx !== undefined && !isInt(o.ctx, 0, 2 ** 32)) || (o.number !== undefined && !isInt(o.number, 1, 2 ** 31))) return 'state op call';
      }
      return undefined;
    }
    default:
      return `unknown kind ${String((m as { t: unknown }).t)}`;
  }
}

function wellFormedToRank(m: ToRank): string | undefined {
  switch (m.t) {
    case 'challenge': return exactKeys(m, ['t', 'nonce']) && isBytes(m.nonce, 16) ? undefined : 'challenge';
    case 'peers': return exactKeys(m, ['t', 'addresses']) && Array.isArray(m.addresses) && m.addresses.every((a) => isStr(a, 4096)) ? undefined : 'peers';
    case 'peer-lost': return exactKeys(m, ['t', 'rank', 'reason']) && isInt(m.rank, 0, 2 ** 31) && isStr(m.reason, 4096) ? undefined : 'peer-lost';
    case 'peer-finished': return exactKeys(m, ['t', 'rank', 'fin']) && isInt(m.rank, 0, 2 ** 31) && typeof m.fin === 'boolean' ? undefined : 'peer-finished';
    case 'all-finished': return exactKeys(m, ['t']) ? undefined : 'all-finished';
    case 'call-conflict':
      return exactKeys(m, ['t', 'ctx', 'tag', 'rank', 'op', 'root']) && isInt(m.ctx, 0, 2 ** 32) && isInt(m.tag, 0, 2 ** 31) && isInt(m.rank, 0, 2 ** 31)
        && isStr(m.op, 64) && isInt(m.root, -1, 2 ** 31) ? undefined : 'call-conflict';
    case 'report-state': return exactKeys(m, ['t', 'id']) && isInt(m.id, 0, 2 ** 31) ? undefined : 'report-state';
    case 'clock': return exactKeys(m, ['t', 'id', 'time']) && isInt(m.id, 0, 2 ** 31) && Number.isFinite(m.time) ? undefined : 'clock';
    default: return `unknown kind ${String((m as { t: unknown }).t)}`;
  }
}

// ---------------------------------------------------------------------------------------------------------

interface Findings {
  inputs: number;
  accepted: number;
  rejected: number;
  /** Thrown something other than TsmpiError TSMPI_ERR_PROTOCOL. */
  wrongThrows: string[];
  /** Accepted something that is not a well-formed message. */
  malformedAccepts: string[];
  slow: string[];
  ms: number;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 96)).toString('hex') + (b.length > 96 ? `…(${b.length} bytes)` : '');
}

function fuzz<M>(
  decode: (b: Uint8Array) => M, valid: () => Record<string, unknown>, wellFormed: (m: M) => string | undefined,
  extra: Uint8Array[],
): Findings {
  const f: Findings = { inputs: 0, accepted: 0, rejected: 0, wrongThrows: [], malformedAccepts: [], slow: [], ms: 0 };
  const started = Date.now();
  const run = (input: Uint8Array) => {
    f.inputs++;
    const t0 = performance.now();
    try {
      const m = decode(input);
      f.accepted++;
      const why = wellFormed(m);
      if (why && f.malformedAccepts.length < 20) f.malformedAccepts.push(`${why}: ${hex(input)}`);
    } catch (e) {
      if (e instanceof TsmpiError && e.code === 'TSMPI_ERR_PROTOCOL') f.rejected++;
      else if (f.wrongThrows.length < 20) {
        f.wrongThrows.push(`${e instanceof Error ? `${e.constructor.name} ${(e as { code?: string }).code ?? ''} ${e.message}` : String(e)}: ${hex(input)}`);
      }
    }
    const dt = performance.now() - t0;
    if (dt > SLOW_MS && f.slow.length < 20) {
      // A garbage-collection pause can land on any input: slow only if it is slow every time.
      let best = dt;
      for (let k = 0; k < 3; k++) {
        const t1 = performance.now();
        try { decode(input); } catch { /* judged above */ }
        best = Math.min(best, performance.now() - t1);
      }
      if (best > SLOW_MS) f.slow.push(`${best.toFixed(0)} ms: ${hex(input)}`);
    }
  };
  for (const input of extra) run(input);
  while (f.inputs < INPUTS_PER_DECODER) run(nextInput(valid));
  f.ms = Date.now() - started;
  return f;
}

/** Inputs every run includes: empty, oversized, a deep nesting, non-binary "frames". */
function fixedInputs(valid: () => Record<string, unknown>): Uint8Array[] {
  const good = encodeControl(valid() as never);
  const oversized = new Uint8Array(MAX_CONTROL_BYTES + 1);
  oversized.set(good);
  return [
    new Uint8Array(0),
    oversized,
    new Uint8Array(100_000).fill(0x91), // [[[[…]]]] 100 000 deep
    new Uint8Array(200_000).fill(0x81), // {{{{…}}}} malformed deep maps
    Uint8Array.from([0x82, 0xa1, 0x74, 0xa5, ...Buffer.from('hello'), 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x74, 0xa5, ...Buffer.from('abort')]),
    'not bytes' as unknown as Uint8Array,
    null as unknown as Uint8Array,
    [0x81] as unknown as Uint8Array,
  ];
}

describe.each([
  { name: 'decodeToLauncher', decode: decodeToLauncher as (b: Uint8Array) => unknown, valid: validToLauncher as () => Record<string, unknown>, wellFormed: wellFormedToLauncher as (m: unknown) => string | undefined },
  { name: 'decodeToRank', decode: decodeToRank as (b: Uint8Array) => unknown, valid: validToRank as () => Record<string, unknown>, wellFormed: wellFormedToRank as (m: unknown) => string | undefined },
])('$name', ({ name, decode, valid, wellFormed }) => {
  let f: Findings;
  beforeAll(() => {
    f = fuzz(decode, valid, wellFormed, fixedInputs(valid));
    console.log(`${name}: ${f.inputs} inputs in ${f.ms} ms, ${f.accepted} accepted, ${f.rejected} rejected with TSMPI_ERR_PROTOCOL`);
  }, 120_000);

  it('decodes every valid message back to itself', () => {
    for (let i = 0; i < 2000; i++) {
      const m = valid();
      const back = decode(encodeControl(m as never)) as Record<string, unknown>;
      expect(back.t).toBe(m.t);
      expect(wellFormed(back)).toBeUndefined();
    }
  });

  it(`rejects malformed input (≥ ${INPUTS_PER_DECODER} seeded inputs) with TSMPI_ERR_PROTOCOL and nothing else`, () => {
    expect(f.inputs).toBeGreaterThanOrEqual(INPUTS_PER_DECODER);
    expect(f.rejected, 'the fuzzer must actually produce rejected input').toBeGreaterThan(f.inputs / 2);
    expect(f.accepted, 'the fuzzer must also produce accepted input').toBeGreaterThan(100);
    expect(f.wrongThrows).toEqual([]);
  });

  it('accepts only well-formed messages', () => {
    expect(f.malformedAccepts).toEqual([]);
  });

  it(`decides every input within ${SLOW_MS} ms`, () => {
    expect(f.slow).toEqual([]);
  });
});
