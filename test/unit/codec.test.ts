// Unit tests of the object codec (runtime/p2p/codec.ts): exact round trips of every supported kind,
// out-of-band typed arrays (views at encode, aligned views or copies at decode), errors with their
// codes, and a seeded fuzz of malformed payloads that must only ever fail with TSMPI_ERR_PROTOCOL.
import { describe, expect, it } from 'vitest';
import {
  CODEC_HEADER_BYTES,
  MAX_NESTING_DEPTH,
  OOB_THRESHOLD_BYTES,
  decodeObject,
  encodeObject,
} from '../../runtime/p2p/codec.js';
import { TsmpiError } from '../../runtime/errors.js';
import { mulberry32 } from '../helpers/random.js';

// ---------------------------------------------------------------------------------------------------
// Helpers

/** The message as one buffer, starting `offset` bytes into a fresh ArrayBuffer (to control alignment). */
function concat(encoded: { parts: Uint8Array[]; byteLength: number }, offset = 0): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(offset + encoded.byteLength), offset, encoded.byteLength);
  let at = 0;
  for (const part of encoded.parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  expect(at).toBe(encoded.byteLength);
  return out;
}

function roundTrip<T>(value: T, offset = 0): T {
  return decodeObject(concat(encodeObject(value), offset)) as T;
}

/** Strict structural equality: same kinds, prototypes, -0 vs 0, NaN, typed array kinds, key order.
 *  Plain checks, not expect(): it runs per element of 100000-element arrays. */
function expectSame(actual: unknown, expected: unknown, path = 'value'): void {
  const fail = (what: string): never => {
    throw new Error(`${path}: ${what}`);
  };
  if (typeof expected !== 'object' || expected === null) {
    if (typeof actual !== typeof expected || !Object.is(actual, expected)) fail(`${String(actual)} (${typeof actual}) instead of ${String(expected)} (${typeof expected})`);
    return;
  }
  if (typeof actual !== 'object' || actual === null) return fail(`${String(actual)} instead of an object`);
  const a = actual as Record<string, unknown>;
  const sameBytes = (x: ArrayBufferView | ArrayBuffer, y: ArrayBufferView | ArrayBuffer): boolean => {
    const bx = x instanceof ArrayBuffer ? Buffer.from(x) : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    const by = y instanceof ArrayBuffer ? Buffer.from(y) : Buffer.from(y.buffer, y.byteOffset, y.byteLength);
    return bx.equals(by);
  };
  if (ArrayBuffer.isView(expected) || expected instanceof ArrayBuffer) {
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(expected)) fail(`kind ${a.constructor?.name} instead of ${expected.constructor.name}`);
    if (!ArrayBuffer.isView(expected) && !(expected instanceof ArrayBuffer)) return;
    if ((a as unknown as ArrayBufferView).byteLength !== expected.byteLength) fail('byteLength differs');
    if (!sameBytes(a as unknown as ArrayBufferView, expected)) fail('bytes differ');
    return;
  }
  if (expected instanceof Date) {
    if (!(a instanceof Date) || !Object.is(a.getTime(), expected.getTime())) fail(`${String(a)} instead of ${String(expected)}`);
    return;
  }
  if (expected instanceof RegExp) {
    if (!(a instanceof RegExp) || String(a) !== String(expected)) fail(`${String(a)} instead of ${String(expected)}`);
    return;
  }
  if (expected instanceof Error) {
    if (!(a instanceof Error)) return fail('not an Error');
    if (a.name !== expected.name || a.message !== expected.message || a.stack !== expected.stack) fail('name, message or stack differ');
    if (('cause' in a) !== ('cause' in expected)) fail('cause presence differs');
    if ('cause' in expected) expectSame(a.cause, expected.cause, `${path}.cause`);
    return;
  }
  if (expected instanceof Map) {
    if (!(a instanceof Map)) return fail('not a Map');
    const got = [...a];
    const want = [...expected];
    if (got.length !== want.length) fail(`size ${got.length} instead of ${want.length}`);
    want.forEach(([k, v], i) => {
      expectSame(got[i]![0], k, `${path}<key ${i}>`);
      expectSame(got[i]![1], v, `${path}.get(#${i})`);
    });
    return;
  }
  if (expected instanceof Set) {
    if (!(a instanceof Set)) return fail('not a Set');
    const got = [...a];
    const want = [...expected];
    if (got.length !== want.length) fail(`size ${got.length} instead of ${want.length}`);
    want.forEach((v, i) => expectSame(got[i], v, `${path}<${i}>`));
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(a) || Object.getPrototypeOf(a) !== Array.prototype) return fail('not a plain array');
    if (a.length !== expected.length) fail(`length ${a.length} instead of ${expected.length}`);
    for (let i = 0; i < expected.length; i++) expectSame(a[i], expected[i], `${path}[${i}]`);
    return;
  }
  if (Object.getPrototypeOf(a) !== Object.prototype) fail('not a plain object');
  const keys = Object.keys(expected);
  const gotKeys = Object.keys(a);
  if (gotKeys.length !== keys.length || gotKeys.some((k, i) => k !== keys[i])) fail(`keys ${gotKeys.slice(0, 10)} instead of ${keys.slice(0, 10)}`);
  for (const key of keys) expectSame(a[key], (expected as Record<string, unknown>)[key], `${path}.${key}`);
}

function expectRoundTrip(value: unknown): void {
  expectSame(roundTrip(value), value);
  expectSame(roundTrip(value, 3), value); // misaligned payload
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof TsmpiError) return e.code;
    throw new Error(`threw a ${(e as Error)?.constructor?.name}, not a TsmpiError: ${String(e)}`);
  }
  return undefined;
}

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('did not throw');
}

const TYPED_KINDS = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;

function filled(Kind: (typeof TYPED_KINDS)[number], length: number, seed = 1): ArrayBufferView {
  const random = mulberry32(seed);
  const array = new Kind(length);
  for (let i = 0; i < length; i++) {
    const r = random();
    if (array instanceof BigInt64Array) array[i] = BigInt(Math.floor((r - 0.5) * 2 ** 53)) * 1021n;
    else if (array instanceof BigUint64Array) array[i] = BigInt(Math.floor(r * 2 ** 53)) * 2039n;
    else (array as Float64Array)[i] = Kind === Float32Array || Kind === Float64Array ? (r - 0.5) * 1e6 : Math.floor(r * 1e9) - 5e8;
  }
  return array;
}

// ---------------------------------------------------------------------------------------------------

describe('round trips', () => {
  it('numbers: integers, floats, NaN, ±Infinity, -0, large', () => {
    const numbers = [0, -0, 1, -1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, -(2 ** 31), 2 ** 31,
      2 ** 32 - 1, 2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 64, 1e300, -1e300,
      Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 0.1, -2.5, Math.PI, 1 / 3, NaN, Infinity, -Infinity];
    for (const n of numbers) expectRoundTrip(n);
    expectRoundTrip(numbers);
    expectRoundTrip({ z: -0, list: [-0, 0, -0], nested: { m: new Map([['k', -0]]) } });
    expect(typeof roundTrip(5)).toBe('number');
  });

  it('bigints of any size and sign stay bigints', () => {
    const bigints = [0n, 5n, -5n, 2n ** 31n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n,
      2n ** 64n, -(2n ** 64n), -(2n ** 63n) - 1n, 2n ** 70n, -(2n ** 70n), 2n ** 128n - 1n, -(2n ** 128n),
      2n ** 4096n + 12345n, -(2n ** 70000n) - 7n];
    const random = mulberry32(7);
    for (let i = 0; i < 300; i++) {
      let b = 0n;
      const bytes = Math.floor(random() * 40);
      for (let j = 0; j < bytes; j++) b = (b << 8n) | BigInt(Math.floor(random() * 256));
      bigints.push(random() < 0.5 ? -b : b);
    }
    for (const b of bigints) {
      const back = roundTrip(b);
      expect(typeof back).toBe('bigint');
      expect(back === b, `${b}`).toBe(true);
    }
    expectRoundTrip({ small: 5n, big: 2n ** 70n, n: 5, list: [1n, 1, -(2n ** 64n)] });
  });

  it('strings: empty, unicode, long, lone surrogates', () => {
    const strings = ['', 'a', 'héllo wörld', '日本語のテキスト', '🎉👨‍👩‍👧‍👦', 'x'.repeat(31), 'x'.repeat(32),
      'y'.repeat(255), 'y'.repeat(256), 'z'.repeat(70000), 'é'.repeat(100000), '\0\u0001\uffff',
      'lone \ud800 high', 'lone \udc00 low', '\udfff\ud800', 'mixed 🎉 \ud83d end'];
    for (const s of strings) expectRoundTrip(s);
    expectRoundTrip({ strings, inMap: new Map([['\ud800', '\udc00']]), inSet: new Set(['\ud800x']) });
  });

  it('booleans, null, undefined (top level, in arrays, as property values)', () => {
    for (const v of [true, false, null, undefined]) expectRoundTrip(v);
    const back = roundTrip({ a: undefined, b: [undefined, null, 1] });
    expect('a' in back).toBe(true);
    expectSame(back, { a: undefined, b: [undefined, null, 1] });
  });

  it('plain objects come back as plain objects, whatever their keys', () => {
    expectRoundTrip({});
    expectRoundTrip({ a: 1, b: 'x', c: [1, 2, 3] });
    expectRoundTrip({ 2: 'two', 1: 'one', b: 1, a: 2 });
    const many: Record<string, number> = {};
    for (let i = 0; i < 70000; i++) many[`k${i}`] = i; // beyond msgpackr's 16-bit fast map
    expectRoundTrip(many);
    // Keys msgpackr alone would get wrong.
    expectRoundTrip({ constructor: 'x', size: 1, length: 2 });
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "x": -0}') as Record<string, unknown>;
    const back = roundTrip(proto) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.is(back.x, -0)).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('objects whose constructor property is Array or Map stay plain objects', () => {
    // msgpackr chooses its array and Map encodings by `value.constructor`.
    for (const ctor of [Array, Map]) {
      const hidden = { length: 2, size: 1, 0: 'a', x: -0 };
      Object.defineProperty(hidden, 'constructor', { value: ctor, enumerable: false });
      expectSame(roundTrip(hidden), { 0: 'a', length: 2, size: 1, x: -0 });
    }
    const arrayLike = Object.assign(Object.create(Array.prototype) as object, { length: 1, 0: 'z' });
    expectSame(roundTrip(arrayLike), { 0: 'z', length: 1 });
  });

  it('null-prototype objects and class instances come back as plain objects', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1, b: [2] });
    expectSame(roundTrip(bare), { a: 1, b: [2] });
    class Point {
      constructor(public x: number, public y: number) {}
      norm(): number { return Math.hypot(this.x, this.y); }
    }
    expectSame(roundTrip(new Point(3, -0)), { x: 3, y: -0 });
  });

  it('arrays: nested, empty, large, holes become undefined', () => {
    expectRoundTrip([]);
    expectRoundTrip([[[]], [1, [2, [3, [4]]]], 'x', { a: [] }]);
    expectRoundTrip(Array.from({ length: 100000 }, (_, i) => i * 1.5));
    // eslint-disable-next-line no-sparse-arrays
    const holey = [1, , 3, , ];
    const back = roundTrip(holey);
    expect(back.length).toBe(4);
    expectSame(back, [1, undefined, 3, undefined]);
    expect(1 in back).toBe(true); // holes arrive as explicit undefined entries
  });

  it('Map with any key types, Set, nesting of both', () => {
    const key = { id: 1 };
    expectRoundTrip(new Map());
    expectRoundTrip(new Map<unknown, unknown>([[1, 'one'], ['1', 'string one'], [key, [1, 2]], [NaN, 'nan'],
      [2n ** 70n, 'big'], [null, 'null'], [undefined, 'u'], [true, 't'], [new Date(5), 'date'],
      [new Map([[1, 2]]), new Set([1, 'a', -0])], [[1, 2], { a: new Map() }]]));
    expectRoundTrip(new Set());
    expectRoundTrip(new Set<unknown>([1, '1', { a: 1 }, [1], new Set([new Map([[1, new Set([2])]])]), 2n]));
    expectRoundTrip({ m: new Map([['a', { s: new Set([1]) }]]) });
  });

  it('Date, RegExp, Error', () => {
    for (const t of [0, 1, -1, 1.5e12 + 123, -1500, 8.64e15, -8.64e15, 2 ** 32 * 1000, 2 ** 34 * 1000 + 7, NaN]) {
      expectRoundTrip(new Date(t));
    }
    expectRoundTrip([/a+b/gi, /\d{2,}$/mu, new RegExp('')]);
    const plain = new Error('boom');
    const typed = new TypeError('bad type', { cause: { code: 7, at: [1, -0] } });
    const custom = new RangeError('out');
    custom.name = 'MyRangeError';
    const chained = new Error('outer', { cause: new Error('inner', { cause: undefined }) });
    for (const e of [plain, typed, custom, chained]) expectRoundTrip(e);
    expect(roundTrip(typed)).toBeInstanceOf(TypeError);
  });

  it('every typed array kind, small (in band) and large (out of band), and subarray views at odd offsets', () => {
    for (const Kind of TYPED_KINDS) {
      for (const length of [0, 1, 7, 100, 4096]) {
        const array = filled(Kind, length, length + 1);
        expectRoundTrip(array);
        expectRoundTrip({ data: array, tail: [array] });
      }
      // A view starting at an odd byte offset of a larger buffer (possible for 1-byte kinds; wider
      // kinds need element alignment, so the view starts at an odd element index instead).
      const base = filled(Kind, 3000, 99) as unknown as { subarray(a: number, b: number): ArrayBufferView };
      for (const [from, to] of [[1, 10], [3, 2999], [1, 2001]] as const) {
        const view = base.subarray(from, to);
        const back = roundTrip(view);
        expect(Object.getPrototypeOf(back)).toBe(Kind.prototype);
        expectSame(back, view);
      }
    }
    const odd = new Uint8Array(new ArrayBuffer(10000), 3, 9001);
    odd.fill(0xab);
    expectRoundTrip(odd);
  });

  it('Buffer comes back as a Buffer; ArrayBuffer and DataView round-trip', () => {
    for (const size of [0, 5, 100000]) {
      const buf = Buffer.alloc(size, 0x5a);
      const back = roundTrip(buf);
      expect(Buffer.isBuffer(back)).toBe(true);
      expect(back.equals(buf)).toBe(true);
      const ab = new Uint8Array(size).fill(3).buffer;
      expectRoundTrip(ab);
      expectRoundTrip(new DataView(new Uint8Array(size + 16).fill(9).buffer, 5, size));
    }
  });

  it(`deep nesting up to MAX_NESTING_DEPTH (${MAX_NESTING_DEPTH}) for every container kind`, () => {
    const wrappers: ((v: unknown) => unknown)[] = [
      (v) => [v], (v) => ({ a: v }), (v) => new Map([['k', v]]), (v) => new Set([v]),
      (v) => new Map([[v, 1]]), (v) => new Error('e', { cause: v }),
    ];
    for (const wrap of wrappers) {
      let value: unknown = -0;
      for (let i = 0; i < MAX_NESTING_DEPTH; i++) value = wrap(value);
      expectRoundTrip(value);
      expect(codeOf(() => encodeObject(wrap(value)))).toBe('TSMPI_ERR_SERIALIZE');
    }
    let mixed: unknown = new Float64Array(3000).fill(1.5);
    for (let i = 0; i < MAX_NESTING_DEPTH; i++) mixed = wrappers[i % wrappers.length]!(mixed);
    expectRoundTrip(mixed);
  });

  it('a shared (non-cyclic) reference arrives as separate copies', () => {
    const shared = { v: 1 };
    const back = roundTrip({ a: shared, b: shared });
    expectSame(back, { a: { v: 1 }, b: { v: 1 } });
    expect(back.a).not.toBe(back.b);
  });
});

describe('a small array as the whole value (written and read without msgpackr)', () => {
  const smallValues = (): ArrayBufferView[] => {
    const values: ArrayBufferView[] = [];
    for (const Kind of TYPED_KINDS) {
      const perElement = (Kind as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      // 0 bytes, one element, 8 bytes, and the largest in-band sizes with ext 8 and ext 16 headers.
      for (const bytes of [0, perElement, 8, 248, 256, OOB_THRESHOLD_BYTES - perElement]) values.push(filled(Kind, bytes / perElement, bytes + 3));
    }
    values.push(Buffer.alloc(9, 7), new DataView(new Uint8Array(300).fill(4).buffer, 3, 290));
    return values;
  };

  it('is the same msgpack the general encoder writes for it inside an array', () => {
    for (const value of [...smallValues(), new Uint8Array(300).fill(6).buffer]) {
      const alone = concat(encodeObject(value));
      const inArray = concat(encodeObject([value]));
      expect(inArray[CODEC_HEADER_BYTES]).toBe(0x91); // fixarray of one
      expect([...alone.subarray(CODEC_HEADER_BYTES)]).toEqual([...inArray.subarray(CODEC_HEADER_BYTES + 1)]);
      expect(new DataView(alone.buffer).getUint32(0, true)).toBe(alone.length - CODEC_HEADER_BYTES);
      expectRoundTrip(value);
    }
  });

  it('decodes at any alignment, owning its memory', () => {
    for (const value of smallValues()) {
      for (const offset of [0, 1, 3, 8]) {
        const payload = concat(encodeObject(value), offset);
        const back = decodeObject(payload) as ArrayBufferView;
        expectSame(back, value);
        payload.fill(0xee);
        expectSame(back, value);
      }
    }
  });

  it('every truncation and extension fails with TSMPI_ERR_PROTOCOL', () => {
    const payload = concat(encodeObject(new Float64Array([1.5, -2, 3])));
    for (let n = 0; n < payload.length; n++) expect(codeOf(() => decodeObject(payload.subarray(0, n))), `prefix ${n}`).toBe('TSMPI_ERR_PROTOCOL');
    const longer = new Uint8Array(payload.length + 1);
    longer.set(payload);
    expect(codeOf(() => decodeObject(longer))).toBe('TSMPI_ERR_PROTOCOL');
  });
});

describe('a larger array as the whole value (out of band, written and read without msgpackr)', () => {
  const largeValues = (): ArrayBufferView[] => {
    const values: ArrayBufferView[] = [];
    for (const Kind of TYPED_KINDS) {
      const perElement = (Kind as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      for (const bytes of [OOB_THRESHOLD_BYTES, OOB_THRESHOLD_BYTES + 8 * perElement, 70_000 * perElement]) values.push(filled(Kind, bytes / perElement, bytes + 5));
      values.push((filled(Kind, 2000, 9) as Float64Array).subarray(3, 1003)); // a view at an offset into its buffer
    }
    values.push(Buffer.alloc(5000, 7), new DataView(new Uint8Array(3000).fill(4).buffer, 3, 2990));
    return values;
  };
  const bytesOf = (value: ArrayBufferView) => new Uint8Array(value.buffer, value.byteOffset, value.byteLength);

  it('is the header the general encoder writes, then the caller\'s bytes as they are (no copy)', () => {
    for (const value of largeValues()) {
      const { parts, byteLength } = encodeObject(value);
      expect(parts).toHaveLength(2);
      expect(parts[1]!.buffer).toBe(value.buffer);
      expect(parts[1]!.byteOffset).toBe(value.byteOffset);
      expect(parts[1]!.byteLength).toBe(value.byteLength);
      const alone = concat({ parts, byteLength });
      const inArray = concat(encodeObject([value]));
      expect(inArray[CODEC_HEADER_BYTES]).toBe(0x91); // fixarray of one
      const msgpackLength = new DataView(alone.buffer).getUint32(0, true);
      expect(msgpackLength).toBe(20);
      expect([...alone.subarray(CODEC_HEADER_BYTES, CODEC_HEADER_BYTES + msgpackLength)])
        .toEqual([...inArray.subarray(CODEC_HEADER_BYTES + 1, CODEC_HEADER_BYTES + 1 + msgpackLength)]);
      expect([...alone.subarray(CODEC_HEADER_BYTES + msgpackLength, 32)]).toEqual([0, 0, 0, 0]); // padding
      expect(Buffer.from(alone.subarray(32)).equals(Buffer.from(bytesOf(value)))).toBe(true);
      expect(Buffer.from(inArray.subarray(32)).equals(Buffer.from(bytesOf(value)))).toBe(true);
    }
  });

  it('decodes as a view of an 8-aligned payload, and as a correct copy of a misaligned one', () => {
    for (const value of largeValues()) {
      const aligned = concat(encodeObject(value), 8);
      const view = decodeObject(aligned) as ArrayBufferView;
      expectSame(view, value);
      expect(view.buffer).toBe(aligned.buffer);
      for (const offset of [1, 3, 4]) {
        const payload = concat(encodeObject(value), offset);
        const back = decodeObject(payload) as ArrayBufferView;
        expectSame(back, value);
        const elementBytes = (value as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
        if ((payload.byteOffset + 32) % elementBytes !== 0) {
          payload.fill(0xee); // a copy: the payload's memory can be reused
          expectSame(back, value);
        }
      }
    }
    const buffer = new Uint8Array(4000).fill(9).buffer;
    const back = roundTrip(buffer, 8) as ArrayBuffer;
    expect(back).toBeInstanceOf(ArrayBuffer);
    expectSame(back, buffer);
  });

  it('every truncation, extension and inconsistent record fails with TSMPI_ERR_PROTOCOL', () => {
    const payload = concat(encodeObject(new Float64Array(OOB_THRESHOLD_BYTES / 8).fill(1.5)));
    for (let n = 0; n < payload.length; n++) expect(codeOf(() => decodeObject(payload.subarray(0, n))), `prefix ${n}`).toBe('TSMPI_ERR_PROTOCOL');
    const longer = new Uint8Array(payload.length + 8);
    longer.set(payload);
    expect(codeOf(() => decodeObject(longer))).toBe('TSMPI_ERR_PROTOCOL');
    const corrupt = (at: number, byte: number) => {
      const copy = payload.slice();
      copy[at] = byte;
      return codeOf(() => decodeObject(copy));
    };
    // Record data starts at 11: kind, u64 offset at 12, u64 byte length at 20.
    expect(corrupt(11, 0), 'kind 0').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(11, 200), 'unknown kind').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(12, 8), 'offset past the start').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(12, 3), 'unaligned offset').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(20, 4), 'length not a multiple of 8').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(21, 0x10), 'length beyond the payload').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(27, 0xff), 'length beyond 2^53').toBe('TSMPI_ERR_PROTOCOL');
    expect(corrupt(9, 16), 'record of 16 data bytes').toBe('TSMPI_ERR_PROTOCOL');
    // A shorter length is consistent on its own, but then the message does not end where it says.
    expect(corrupt(21, 0x01), 'length short of the payload').toBe('TSMPI_ERR_PROTOCOL');
  });
});

describe('out-of-band typed arrays', () => {
  it('are views of the caller arrays in the parts, never copies', () => {
    const big = new Float64Array(1 << 21).fill(2.5); // 16 MiB
    const { parts, byteLength } = encodeObject({ data: big, label: 'x' });
    const view = parts.find((p) => p.byteLength === big.byteLength)!;
    expect(view).toBeDefined();
    expect(view.buffer).toBe(big.buffer);
    expect(view.byteOffset).toBe(big.byteOffset);
    expect(byteLength).toBeGreaterThanOrEqual(big.byteLength);
    expect(byteLength).toBeLessThan(big.byteLength + 256);
  });

  it('start at 8-aligned offsets of the message; small arrays stay in band', () => {
    const small = new Uint8Array(OOB_THRESHOLD_BYTES - 1);
    expect(encodeObject({ small }).parts).toHaveLength(1);
    const arrays = [new Uint8Array(OOB_THRESHOLD_BYTES + 3), new Float32Array(1000), new Float64Array(5000).subarray(1, 4001),
      new Int16Array(1500)];
    const { parts } = encodeObject(arrays);
    let offset = 0;
    for (const part of parts) {
      if (arrays.some((a) => a.buffer === part.buffer)) expect(offset % 8, 'oob offset').toBe(0);
      offset += part.byteLength;
    }
    expect(parts.filter((p) => arrays.some((a) => a.buffer === p.buffer))).toHaveLength(arrays.length);
  });

  it('decode as views of an 8-aligned payload and as correct copies of a misaligned one', () => {
    for (const Kind of TYPED_KINDS) {
      const array = filled(Kind, 4096, 3) as Float64Array;
      const encoded = encodeObject({ array, other: [array.subarray(5)] });
      const aligned = concat(encoded, 8);
      const back = decodeObject(aligned) as { array: Float64Array; other: Float64Array[] };
      expect(back.array.buffer).toBe(aligned.buffer); // shares memory: no copy
      expect(back.other[0]!.buffer).toBe(aligned.buffer);
      expectSame(back.array, array);
      expectSame(back.other[0], array.subarray(5));
      for (const offset of [1, 2, 3, 4, 5, 6, 7]) {
        const shifted = concat(encoded, offset);
        const copy = decodeObject(shifted) as { array: Float64Array };
        expectSame(copy.array, array);
        const canView = (offset % Kind.BYTES_PER_ELEMENT) === 0;
        expect(copy.array.buffer === shifted.buffer).toBe(canView);
      }
    }
  });

  it('a Buffer payload (as sockets deliver) decodes too', () => {
    const array = new Float64Array(10000).map((_, i) => i / 7);
    const message = Buffer.from(concat(encodeObject({ array })));
    expectSame((decodeObject(message) as { array: Float64Array }).array, array);
  });
});

describe('encode errors', () => {
  it('functions, symbols and other unserializable values fail with TSMPI_ERR_SERIALIZE, naming where', () => {
    const cases: [unknown, RegExp][] = [
      [() => 1, /function/],
      [function named() {}, /function \(named\)/],
      [Symbol('s'), /symbol/],
      [{ a: { b: [1, 2, () => 3] } }, /function at value\.a\.b\[2\]/],
      [{ 'odd key': Symbol.iterator }, /symbol at value\["odd key"\]/],
      [new Map([['k', { f: Math.max }]]), /function \(max\) at value\.get\("k"\)\.f/],
      [new Map([[Symbol('k'), 1]]), /symbol at value<key of Map entry 0>/],
      [new Set([1, () => 2]), /function at value<Set element 1>/],
      [new Error('x', { cause: () => 1 }), /function.* at value\.cause/],
      [new WeakMap(), /WeakMap/],
      [new WeakSet(), /WeakSet/],
      [Promise.resolve(1), /Promise/],
      [new Number(3), /Number/],
      [[1, new SharedArrayBuffer(8)], /SharedArrayBuffer at value\[1\]/],
      [new Map([[1, 2]]).entries(), /Map Iterator/],
    ];
    for (const [value, message] of cases) {
      expect(codeOf(() => encodeObject(value))).toBe('TSMPI_ERR_SERIALIZE');
      expect(messageOf(() => encodeObject(value))).toMatch(message);
    }
  });

  it('cycles are rejected, naming the back reference', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    expect(codeOf(() => encodeObject(a))).toBe('TSMPI_ERR_SERIALIZE');
    expect(messageOf(() => encodeObject(a))).toMatch(/cyclic.*value\.self refers back to value\b/);
    const list: unknown[] = [1, { inner: [] as unknown[] }];
    ((list[1] as { inner: unknown[] }).inner).push(list);
    expect(messageOf(() => encodeObject({ list }))).toMatch(/value\.list\[1\]\.inner\[0\] refers back to value\.list/);
    const m = new Map<string, unknown>();
    m.set('me', m);
    expect(codeOf(() => encodeObject(m))).toBe('TSMPI_ERR_SERIALIZE');
  });

  it('a failure mid-encode does not poison the next call', () => {
    const big = new Float64Array(100000);
    let reads = 0;
    const tricky = {
      big,
      get late(): unknown {
        reads++;
        return reads === 1 ? 1 : Symbol('second read'); // the validation walk sees 1, msgpackr a symbol
      },
    };
    expect(codeOf(() => encodeObject(tricky))).toBe('TSMPI_ERR_SERIALIZE');
    const next = encodeObject({ n: 1 });
    expect(next.parts).toHaveLength(1);
    expectSame(decodeObject(concat(next)), { n: 1 });
    const withArray = encodeObject({ a: new Float64Array(1000) });
    expect(withArray.parts.filter((p) => p.buffer === big.buffer)).toHaveLength(0);
  });

  it('a getter that itself encodes (reentrancy) keeps both messages intact', () => {
    const inner = new Float64Array(1000).fill(7);
    let nested: { parts: Uint8Array[]; byteLength: number } | undefined;
    const outerArray = new Float64Array(2000).fill(3);
    const value = {
      first: outerArray,
      get second(): number {
        nested ??= encodeObject({ inner });
        return 2;
      },
      third: outerArray.subarray(1000),
    };
    const outer = encodeObject(value);
    expectSame(decodeObject(concat(outer)), { first: outerArray, second: 2, third: outerArray.subarray(1000) });
    expectSame(decodeObject(concat(nested!)), { inner });
  });
});

describe('decode errors', () => {
  const sample = concat(encodeObject({ a: [1, 'two', 3n, -0, new Map([[1, new Set([2])]])], d: new Date(7),
    t: new Int16Array([1, 2, 3]), big: new Float64Array(1000).fill(1), s: '\ud800', e: new Error('x') }), 8);

  it('the sample decodes', () => {
    expect(() => decodeObject(sample)).not.toThrow();
  });

  it('every truncation and extension of a valid message fails with TSMPI_ERR_PROTOCOL', () => {
    for (let n = 0; n < sample.length; n++) expect(codeOf(() => decodeObject(sample.subarray(0, n))), `prefix ${n}`).toBe('TSMPI_ERR_PROTOCOL');
    const longer = new Uint8Array(sample.length + 8);
    longer.set(sample);
    expect(codeOf(() => decodeObject(longer))).toBe('TSMPI_ERR_PROTOCOL');
  });

  /** A message with the given msgpack bytes (and optional trailing bytes after alignment). */
  function message(msgpack: number[], tail: Uint8Array = new Uint8Array(0)): Uint8Array {
    const msgEnd = CODEC_HEADER_BYTES + msgpack.length;
    const oobStart = Math.ceil(msgEnd / 8) * 8;
    const out = new Uint8Array((tail.length ? oobStart : msgEnd) + tail.length);
    new DataView(out.buffer).setUint32(0, msgpack.length, true);
    out[4] = 1;
    out.set(msgpack, CODEC_HEADER_BYTES);
    if (tail.length > 0) out.set(tail, oobStart);
    return out;
  }

  const oobRecord = (kind: number, offset: number, length: number): number[] => {
    const bytes = new Uint8Array(20);
    const view = new DataView(bytes.buffer);
    bytes.set([0xc7, 17, 0x4f, kind]);
    view.setUint32(4, offset % 2 ** 32, true);
    view.setUint32(8, Math.floor(offset / 2 ** 32), true);
    view.setUint32(12, length % 2 ** 32, true);
    view.setUint32(16, Math.floor(length / 2 ** 32), true);
    return [...bytes];
  };

  it('crafted malformed messages fail with TSMPI_ERR_PROTOCOL', () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['header only, declares more', message([]).subarray(0, 8)],
      ['declared msgpack length beyond payload', (() => { const m = message([0x01]); m[0] = 200; return m; })()],
      ['declared length 4 GiB - 1', (() => { const m = message([0x01]); m.set([0xff, 0xff, 0xff, 0xff], 0); return m; })()],
      ['wrong version', (() => { const m = message([0x01]); m[4] = 9; return m; })()],
      ['reserved bytes set', (() => { const m = message([0x01]); m[6] = 1; return m; })()],
      ['two values', message([0x01, 0x02])],
      ['array32 claims 4 billion items', message([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ['map32 claims 2 billion entries', message([0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01])],
      ['str32 longer than the message', message([0xdb, 0x00, 0x10, 0x00, 0x00, 0x61])],
      ['nesting 100000 deep', message(new Array(100000).fill(0x91).concat([0x01]))],
      ['nesting one past the limit', message(new Array(MAX_NESTING_DEPTH + 1).fill(0x91).concat([0x01]))],
      ['unknown ext type', message([0xd4, 0x33, 0x00])],
      ['msgpackr record definition', message([0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61])],
      ['msgpackr structured-clone pointer', message([0xd6, 0x70, 0, 0, 0, 1])],
      ['msgpackr error ext', message([0xd4, 0x65, 0x00, 0x93, 0xa1, 0x61, 0xa1, 0x62, 0xc0])],
      ['msgpackr in-band typed array', message([0xc7, 0x02, 0x74, 0x01, 0x05])],
      ['bin', message([0xc4, 0x01, 0x00])],
      ['0xc1 never-used', message([0xc1])],
      ['Set tag followed by a number', message([0xd4, 0x73, 0x00, 0x05])],
      ['Map tag followed by odd array', message([0xd4, 0x4d, 0x00, 0x93, 1, 2, 3])],
      ['Map tag at the end', message([0xd4, 0x4d, 0x00])],
      ['Error fields not strings', message([0xd4, 0x45, 0x00, 0x93, 1, 2, 3])],
      ['plain-object record with a numeric key', message([0xd4, 0x50, 0x00, 0x92, 0x01, 0x02])],
      ['RegExp with bad pattern', message([0xd4, 0x78, 0x00, 0x92, 0xa1, 0x28, 0xa0])],
      ['in-band binary of unknown kind', message([0xc7, 0x02, 0x54, 0x63, 0x00])],
      ['in-band Float64 of 3 bytes', message([0xc7, 0x04, 0x54, 0x09, 1, 2, 3])],
      ['utf16 of odd length', message([0xc7, 0x03, 0x57, 0x61, 0x00, 0x62])],
      ['negative zero as ext8', message([0xc7, 0x01, 0x5a, 0x00])],
      ['timestamp of 5 bytes', message([0xc7, 0x05, 0xff, 0, 0, 0, 0, 0])],
      ['out-of-band buffer beyond the payload', message(oobRecord(9, 0, 64), new Uint8Array(32))],
      ['out-of-band offset beyond the payload', message(oobRecord(2, 2 ** 40, 8), new Uint8Array(8))],
      ['out-of-band offset not 8-aligned', message(oobRecord(2, 4, 4), new Uint8Array(8))],
      ['out-of-band length not whole elements', message(oobRecord(9, 0, 12), new Uint8Array(16))],
      ['out-of-band length above 2^53', message(oobRecord(2, 0, 2 ** 60), new Uint8Array(8))],
      ['out-of-band kind unknown', message(oobRecord(0, 0, 8), new Uint8Array(8))],
      ['trailing bytes after the out-of-band region', message(oobRecord(2, 0, 8), new Uint8Array(16))],
    ];
    for (const [name, payload] of cases) expect(codeOf(() => decodeObject(payload)), name).toBe('TSMPI_ERR_PROTOCOL');
    expect(codeOf(() => decodeObject('nope' as unknown as Uint8Array))).toBe('TSMPI_ERR_PROTOCOL');
    // A well-formed hand-made out-of-band message does decode.
    const tail = new Uint8Array(16);
    new Float64Array(tail.buffer)[1] = 2.5;
    expectSame(decodeObject(message(oobRecord(9, 0, 16), tail)), new Float64Array([0, 2.5]));
  });

  it('fuzz: random and mutated payloads only ever fail with TSMPI_ERR_PROTOCOL', () => {
    const random = mulberry32(20240601);
    const pick = <T,>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const randomValue = (depth: number): unknown => {
      const r = random();
      if (depth > 4 || r < 0.35) {
        return pick<() => unknown>([
          () => Math.floor(random() * 1000) - 500, () => random() * 1e10, () => -0, () => NaN, () => 2n ** 70n,
          () => BigInt(Math.floor(random() * 1e6)), () => 'str'.repeat(Math.floor(random() * 20)), () => '\ud800',
          () => true, () => null, () => undefined, () => new Date(Math.floor(random() * 1e12)), () => /x+/g,
          () => new Float64Array(Math.floor(random() * 600)).fill(random()),
          () => new Int8Array(Math.floor(random() * 40)), () => Buffer.alloc(Math.floor(random() * 30), 1),
        ])();
      }
      const n = Math.floor(random() * 5);
      const children = Array.from({ length: n }, () => randomValue(depth + 1));
      return pick<() => unknown>([
        () => children,
        () => Object.fromEntries(children.map((c, i) => [`k${i}`, c])),
        () => new Map(children.map((c, i) => [i % 2 ? `k${i}` : i, c])),
        () => new Set(children),
        () => new Error('e', { cause: children }),
      ])();
    };
    const valid: Uint8Array[] = [];
    for (let i = 0; i < 60; i++) {
      const value = randomValue(0);
      const bytes = concat(encodeObject(value), 8);
      expectSame(decodeObject(bytes), value);
      valid.push(bytes);
    }
    // Big arrays out of band, so that records and alignment get mutated too.
    for (let i = 0; i < 10; i++) valid.push(concat(encodeObject({ x: new Float64Array(300 + i), y: [new Uint16Array(1100)] }), 8));

    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 6000; i++) {
      const base = pick(valid);
      let bytes: Uint8Array;
      const mode = random();
      if (mode < 0.1) {
        bytes = new Uint8Array(Math.floor(random() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = random() * 256;
        if (bytes.length >= 8 && random() < 0.7) { // plausible header
          new DataView(bytes.buffer).setUint32(0, bytes.length - 8, true);
          bytes.set([1, 0, 0, 0], 4);
        }
      } else {
        bytes = base.slice();
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips; f++) {
          const at = Math.floor(random() * bytes.length);
          const how = random();
          if (how < 0.5) bytes[at] = random() * 256;
          else if (how < 0.7) bytes[at] ^= 1 << Math.floor(random() * 8);
          else if (how < 0.85) bytes = bytes.subarray(0, at);
          else {
            const grown = new Uint8Array(bytes.length + 1 + Math.floor(random() * 8));
            grown.set(bytes.subarray(0, at));
            grown.set(bytes.subarray(at), grown.length - (bytes.length - at));
            bytes = grown;
          }
          if (bytes.length === 0) break;
        }
      }
      try {
        decodeObject(bytes);
        decoded++;
      } catch (e) {
        if (!(e instanceof TsmpiError) || e.code !== 'TSMPI_ERR_PROTOCOL') {
          throw new Error(`iteration ${i}: ${(e as Error)?.constructor?.name} ${String(e)} for ${Buffer.from(bytes).toString('hex').slice(0, 200)}`);
        }
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
    expect(decoded + rejected).toBe(6000);
  });
});
