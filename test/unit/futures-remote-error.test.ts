// Unit tests of runtime/futures/remote-error.ts: what a task threw, sent through the real object codec
// (runtime/p2p/codec.ts) as a worker sends it, and rebuilt as root rebuilds it: classes, name,
// message, code and other own properties (text for what the codec cannot carry), AggregateError's
// errors, causes, values that are not errors, and the RemoteTraceback with its header.
import { describe, expect, it } from 'vitest';
import { decodeObject, encodeObject } from '../../runtime/p2p/codec.js';
import { isTsmpiError, tsmpiError, TsmpiError } from '../../runtime/errors.js';
import { carriable, decodeError, encodeError, type EncodedError } from '../../runtime/futures/remote-error.js';

const origin = { rank: 2, size: 4, host: 'node7', task: 'simulate' };

/** As between a worker and root: encoded, through the codec, decoded. */
function transported(thrown: unknown): unknown {
  const encoded = encodeError(thrown);
  const { parts } = encodeObject(encoded);
  const bytes = Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
  return decodeError(decodeObject(bytes) as EncodedError, origin);
}

describe('a task error, rebuilt on root', () => {
  it.each([
    [TypeError], [RangeError], [SyntaxError], [ReferenceError], [EvalError], [URIError], [Error],
  ])('%o arrives as its class, with message, name, stack, rank, task and a RemoteTraceback', (Class) => {
    const thrown = new Class('went wrong');
    const e = transported(thrown) as Error & { rank: number; task: string };
    expect(e).toBeInstanceOf(Class);
    expect(Object.getPrototypeOf(e)).toBe(Class.prototype);
    expect([e.name, e.message, e.rank, e.task]).toEqual([Class.name, 'went wrong', 2, 'simulate']);
    expect(e.stack!.startsWith(thrown.stack!)).toBe(true);
    expect(e.stack!.split('\n').at(-1)).toBe("    at task 'simulate' (worker 2 of 4 on node7)");
    const tb = e.cause as Error;
    expect(tb.name).toBe('RemoteTraceback');
    expect(tb.message).toBe('worker 2 of 4 on node7');
    expect(tb.stack).toBe(`worker 2 of 4 on node7\n${thrown.stack}`);
    expect(Object.getOwnPropertyDescriptor(e, 'cause')!.enumerable).toBe(false);
  });

  it('keeps code and other own properties; what the codec cannot carry arrives as text', () => {
    const thrown = Object.assign(new RangeError('bad'), {
      code: 'E_BAD', errno: -2, info: { path: '/x', sizes: [1, 2], big: 2n ** 80n, when: new Date(5), bytes: Uint8Array.of(1, 2) },
      fn() { return 1; }, sym: Symbol('s'), map: new Map([[1, 'a']]), set: new Set([1]),
    });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    Object.assign(thrown, { cyclic, deep: JSON.parse('['.repeat(40) + ']'.repeat(40)) });
    const e = transported(thrown) as RangeError & Record<string, unknown>;
    expect(e).toBeInstanceOf(RangeError);
    expect([e.code, e.errno, e.info, e.map, e.set]).toEqual(['E_BAD', -2, thrown.info, thrown.map, thrown.set]);
    expect(typeof e.fn).toBe('string');
    expect(e.sym).toBe('Symbol(s)');
    expect(e.cyclic).toBe('[object Object]');
    expect(typeof e.deep).toBe('string');
  });

  it('subclasses arrive as their nearest built-in class, or as Error, with their name', () => {
    class Timeout extends RangeError { override name = 'Timeout'; }
    class Validation extends Error { field = 'email'; constructor(m: string) { super(m); this.name = 'Validation'; } }
    const t = transported(new Timeout('too slow')) as Error;
    expect(t).toBeInstanceOf(RangeError);
    expect(t.name).toBe('Timeout');
    const v = transported(new Validation('bad')) as Error & { field: string };
    expect(Object.getPrototypeOf(v)).toBe(Error.prototype);
    expect([v.name, v.message, v.field]).toEqual(['Validation', 'bad', 'email']);
  });

  it('a TsmpiError arrives as a TsmpiError with its code', () => {
    const e = transported(tsmpiError('TSMPI_ERR_RANK', 'destination rank 9 is not an integer in [0, 3]'));
    expect(isTsmpiError(e, 'TSMPI_ERR_RANK')).toBe(true);
    expect((e as TsmpiError).message).toBe('TSMPI_ERR_RANK: destination rank 9 is not an integer in [0, 3]');
    // A name it does not know stays an Error.
    const odd = Object.assign(new Error('x'), { name: 'TsmpiError', code: 'TSMPI_ERR_NOPE' });
    expect(transported(odd)).not.toBeInstanceOf(TsmpiError);
  });

  it("AggregateError's errors, and an error's own cause (under the RemoteTraceback), are rebuilt too", () => {
    const agg = transported(new AggregateError([new TypeError('a'), 'b', new URIError('c', { cause: 4 })], 'all')) as AggregateError;
    expect(agg).toBeInstanceOf(AggregateError);
    expect(agg.message).toBe('all');
    expect(agg.errors[0]).toBeInstanceOf(TypeError);
    expect(agg.errors[1]).toBe('b');
    expect((agg.errors[2] as Error).cause).toBe(4);
    const chained = transported(new Error('outer', { cause: new SyntaxError('inner', { cause: 'root cause' }) })) as Error;
    const inner = (chained.cause as Error).cause as Error;
    expect(inner).toBeInstanceOf(SyntaxError);
    expect([inner.message, inner.cause]).toEqual(['inner', 'root cause']);
  });

  it('a thrown value that is not an Error arrives as that value (as text when it cannot travel)', () => {
    expect(transported('oops')).toBe('oops');
    expect(transported({ code: 42 })).toEqual({ code: 42 });
    expect(transported(undefined)).toBeUndefined();
    expect(transported(null)).toBeNull();
    expect(transported(7n)).toBe(7n);
    expect(transported(Symbol('x'))).toBe('Symbol(x)');
  });

  it('encoding never throws, even for hostile errors', () => {
    const hostile = new Error('h');
    Object.defineProperty(hostile, 'trap', { enumerable: true, get() { throw new Error('no reading me'); } });
    Object.defineProperty(hostile, 'stack', { value: 42 });
    const e = transported(hostile) as Error & { trap: string };
    expect(e.trap).toBe('(reading it threw Error: no reading me)');
    expect(e.stack!.startsWith('Error: h')).toBe(true);
    const noToString = Object.create(null) as object;
    expect(encodeError(noToString)).toEqual({ error: false, value: noToString });
  });
});

describe('carriable', () => {
  it('follows the codec: plain data yes; functions, symbols, cycles, exotic objects no', () => {
    for (const ok of [1, 'a', true, undefined, null, 5n, [1, [2]], { a: { b: 1 } }, new Map([[{}, []]]), new Set(['x']), new Date(), /re/g, new Float32Array(2), new ArrayBuffer(4), new Error('e'), Object.create(null)]) {
      expect(carriable(ok), Object.prototype.toString.call(ok)).toBe(true);
      expect(() => encodeObject(ok)).not.toThrow();
    }
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    for (const bad of [() => 1, Symbol('s'), cyclic, new WeakMap(), Promise.resolve(), [1, () => 2], { f: Symbol('x') }, new Error('e', { cause: () => 1 })]) {
      expect(carriable(bad), Object.prototype.toString.call(bad)).toBe(false);
    }
  });
});
