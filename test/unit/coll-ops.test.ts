// Reduction operations on their own (runtime/coll/ops.ts): object semantics, typed kernels for every
// element kind including C-style wrap-around, op/kind errors and user ops. (The SUM kernel's speed is a benchmark figure: bench/run.ts, coll group.)
import { describe, expect, it } from 'vitest';
import * as ops from '../../runtime/coll/ops.js';
import { checkObjectOperand, Op, toOp, typedKernel } from '../../runtime/coll/ops.js';
import { isTsmpiError } from '../../runtime/errors.js';
import { dtypeOf, type TypedArray } from '../../runtime/wire/dtype.js';
import { contribution, elements, isBigKind, KINDS, OP_NAMES, opApplies, referenceCombine } from './fake-channel.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    return isTsmpiError(err) ? err.code : `not a TsmpiError: ${String(err)}`;
  }
};

/** kernel(out, a, b) into a fresh output. */
const combine = (op: Op, a: TypedArray, b: TypedArray): TypedArray => {
  const out = a.slice();
  typedKernel(op, dtypeOf(a))(out, a, b);
  return out;
};

describe('typed kernels', () => {
  it('agree with the reference for every op × every kind it applies to, and reject the others with TSMPI_ERR_OP', () => {
    for (const name of OP_NAMES) {
      for (const kind of KINDS) {
        if (!opApplies(name, kind)) {
          expect(codeOf(() => typedKernel(ops[name], dtypeOf(new kind(0))))).toBe('TSMPI_ERR_OP');
          continue;
        }
        const a = contribution(kind, name, 2, 12);
        const b = contribution(kind, name, 5, 12);
        expect(elements(combine(ops[name], a, b)), `${name} ${kind.name}`).toEqual(elements(referenceCombine(name, a, b)));
      }
    }
  });

  it('write into an output that aliases an operand', () => {
    const a = Float64Array.of(1, 2, 3);
    typedKernel(ops.SUM, dtypeOf(a))(a, a, Float64Array.of(10, 20, 30));
    expect(elements(a)).toEqual([11, 22, 33]);
    const pairs = Int32Array.of(5, 1, 2, 0);
    typedKernel(ops.MAXLOC, dtypeOf(pairs))(pairs, Int32Array.of(5, 0, 9, 3), pairs);
    expect(elements(pairs)).toEqual([5, 0, 9, 3]);
  });

  it('wrap around like C integer arithmetic', () => {
    expect(elements(combine(ops.SUM, Int8Array.of(100), Int8Array.of(100)))).toEqual([-56]);
    expect(elements(combine(ops.SUM, Uint8ClampedArray.of(200), Uint8ClampedArray.of(100)))).toEqual([255]);
    expect(elements(combine(ops.PROD, Int32Array.of(1 << 20), Int32Array.of(1 << 20)))).toEqual([0]);
    expect(elements(combine(ops.PROD, Int32Array.of(123456789), Int32Array.of(987654321)))).toEqual([Math.imul(123456789, 987654321)]);
    expect(elements(combine(ops.PROD, Uint32Array.of(0xffffffff), Uint32Array.of(0xffffffff)))).toEqual([1]);
    expect(elements(combine(ops.SUM, BigInt64Array.of(2n ** 63n - 1n), BigInt64Array.of(1n)))).toEqual([-(2n ** 63n)]);
    expect(elements(combine(ops.BXOR, Uint32Array.of(0xffff0000), Uint32Array.of(0x0000ffff)))).toEqual([0xffffffff]);
    expect(elements(combine(ops.BAND, BigUint64Array.of(2n ** 64n - 1n), BigUint64Array.of(2n ** 63n)))).toEqual([2n ** 63n]);
  });

  it('logical ops give 0/1 and count NaN as true; MAX/MIN propagate NaN', () => {
    expect(elements(combine(ops.LAND, Float64Array.of(NaN, 0, 2), Float64Array.of(3, 1, -0)))).toEqual([1, 0, 0]);
    expect(elements(combine(ops.LXOR, BigInt64Array.of(5n, 0n), BigInt64Array.of(0n, 0n)))).toEqual([1n, 0n]);
    expect(elements(combine(ops.MAX, Float64Array.of(NaN, 1), Float64Array.of(1, NaN)))).toEqual([NaN, NaN]);
  });

  it('call a user op with whole arrays and check what it returns', () => {
    const seen: number[] = [];
    const concatLengths = Op.create((a: Float64Array, b: Float64Array) => {
      seen.push(a.length, b.length);
      return a.map((x, i) => x * 10 + b[i]!);
    }, false);
    expect(elements(combine(concatLengths, Float64Array.of(1, 2, 3), Float64Array.of(4, 5, 6)))).toEqual([14, 25, 36]);
    expect(seen).toEqual([3, 3]);
    expect(codeOf(() => combine(Op.create(() => new Float32Array(3)), new Float64Array(3), new Float64Array(3)))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => combine(Op.create(() => new Float64Array(2)), new Float64Array(3), new Float64Array(3)))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => combine(Op.create(() => { throw new Error('boom'); }), new Float64Array(3), new Float64Array(3)))).toBe('TSMPI_ERR_OP');
  });

  it('cover the unrolled body and the tail at every length, also written in place over either operand', () => {
    for (const name of OP_NAMES) {
      for (const kind of KINDS) {
        if (!opApplies(name, kind) || name === 'MAXLOC' || name === 'MINLOC') continue;
        const kernel = typedKernel(ops[name], dtypeOf(new kind(0)));
        for (const length of [0, 1, 15, 16, 17, 31, 32, 33, 100]) {
          const a = contribution(kind, name, 3, length);
          const b = contribution(kind, name, 7, length);
          const expected = elements(referenceCombine(name, a, b));
          const label = `${name} ${kind.name} × ${length}`;
          expect(elements(combine(ops[name], a, b)), label).toEqual(expected);
          const intoA = a.slice();
          kernel(intoA, intoA, b);
          expect(elements(intoA), `${label} into a`).toEqual(expected);
          const intoB = b.slice();
          kernel(intoB, a, intoB);
          expect(elements(intoB), `${label} into b`).toEqual(expected);
        }
      }
    }
  });
});

describe('objects', () => {
  it('combine numbers, bigints, booleans and strings as API.md says', () => {
    expect(ops.SUM.apply(1.5, 2)).toBe(3.5);
    expect(ops.PROD.apply(3n, 4n)).toBe(12n);
    expect(ops.MAX.apply(-1, -2)).toBe(-1);
    expect(ops.MIN.apply('b', 'a')).toBe('a');
    expect(ops.SUM.apply('ab', 'cd')).toBe('abcd');
    expect(ops.LAND.apply(true, false)).toBe(false);
    expect(ops.LOR.apply(0, 7)).toBe(1);
    expect(ops.LXOR.apply(1n, 2n)).toBe(0n);
    expect(ops.BAND.apply(0b1100, 0b1010)).toBe(0b1000);
    expect(ops.BOR.apply(2 ** 40, 1)).toBe(2 ** 40 + 1); // past int32: exact through BigInt
    expect(ops.BXOR.apply(-1, 0xff)).toBe(-256);
    expect(ops.REPLACE.apply({ a: 1 }, 'x')).toBe('x');
    expect(ops.NO_OP.apply('x', { a: 1 })).toBe('x');
  });

  it('combine arrays (nested) and typed arrays element by element, and [value, index] pairs for MAXLOC/MINLOC', () => {
    expect(ops.SUM.apply([1, [2, 3n]], [10, [20, 30n]])).toEqual([11, [22, 33n]]);
    const typedSum = ops.SUM.apply(Float32Array.of(1, 2), Float32Array.of(3, 4)) as Float32Array;
    expect(typedSum).toBeInstanceOf(Float32Array);
    expect(elements(typedSum)).toEqual([4, 6]);
    expect(ops.MAXLOC.apply([3, 1], [3, 0])).toEqual([3, 0]);
    expect(ops.MAXLOC.apply([3, 1], [4, 9])).toEqual([4, 9]);
    expect(ops.MINLOC.apply([[1, 0], [5, 0]], [[2, 1], [4, 1]])).toEqual([[1, 0], [4, 1]]);
    expect(elements(ops.MINLOC.apply(Int32Array.of(4, 0, 1, 0), Int32Array.of(4, 1, 0, 1)) as Int32Array)).toEqual([4, 0, 0, 1]);
  });

  it('never modify their operands', () => {
    const a = [1, [2, 3]];
    const b = [4, [5, 6]];
    const t = Float64Array.of(1, 2);
    ops.SUM.apply(a, b);
    ops.MAX.apply(t, Float64Array.of(3, 0));
    expect([a, b, elements(t)]).toEqual([[1, [2, 3]], [4, [5, 6]], [1, 2]]);
  });

  it('reject what they cannot combine: TSMPI_ERR_OP for types, TSMPI_ERR_COUNT for lengths', () => {
    expect(codeOf(() => ops.SUM.apply(1, 1n))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => ops.SUM.apply({ a: 1 }, { a: 2 }))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => ops.BAND.apply(1.5, 1))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => ops.PROD.apply(true, false))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => ops.MAXLOC.apply(1, 2))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => ops.SUM.apply([1, 2], [1]))).toBe('TSMPI_ERR_COUNT');
    expect(codeOf(() => ops.SUM.apply(Int8Array.of(1), Int16Array.of(1)))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => ops.BOR.apply(Float64Array.of(1), Float64Array.of(1)))).toBe('TSMPI_ERR_OP');
  });

  it('checkObjectOperand finds, before anything is sent, what an op will not take', () => {
    expect(codeOf(() => checkObjectOperand(ops.SUM, [1, [2n, Int8Array.of(1)], 'x']))).toBeUndefined();
    expect(codeOf(() => checkObjectOperand(ops.BAND, [1, 2.5]))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => checkObjectOperand(ops.BXOR, Float32Array.of(1)))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => checkObjectOperand(ops.MAXLOC, [[1, 0], [2, 1]]))).toBeUndefined();
    expect(codeOf(() => checkObjectOperand(ops.MAXLOC, 3))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => checkObjectOperand(ops.MINLOC, Int32Array.of(1, 2, 3)))).toBe('TSMPI_ERR_COUNT');
    expect(codeOf(() => checkObjectOperand(ops.LAND, new Map()))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => checkObjectOperand(ops.REPLACE, new Map()))).toBeUndefined();
    expect(codeOf(() => checkObjectOperand(Op.create(() => 0), Symbol('anything')))).toBeUndefined();
  });
});

describe('Op and toOp', () => {
  it('predefined ops commute except REPLACE and NO_OP; Op.create takes the flag; plain functions count as non-commutative', () => {
    expect(OP_NAMES.filter((n) => !ops[n].commute)).toEqual(['REPLACE', 'NO_OP']);
    expect(Op.create((a: number) => a).commute).toBe(true);
    expect(Op.create((a: number) => a, false).commute).toBe(false);
    const plain = (a: number, b: number) => a - b;
    expect(toOp(plain).commute).toBe(false);
    expect(toOp(plain)).toBe(toOp(plain));
    expect(toOp(plain).apply(5, 3)).toBe(2);
    expect(toOp(ops.SUM)).toBe(ops.SUM);
  });

  it('anything else is TSMPI_ERR_OP', () => {
    for (const bad of ['SUM', 1, null, undefined, {}]) expect(codeOf(() => toOp(bad))).toBe('TSMPI_ERR_OP');
    expect(codeOf(() => Op.create(3 as never))).toBe('TSMPI_ERR_OP');
  });

  it('every kind has a kernel for SUM, including the BigInt kinds', () => {
    for (const kind of KINDS) {
      const one = isBigKind(kind) ? 1n : 1;
      const a = new kind(2).fill(one as never);
      expect(elements(combine(ops.SUM, a, a))).toEqual([isBigKind(kind) ? 2n : 2, isBigKind(kind) ? 2n : 2]);
    }
  });
});
