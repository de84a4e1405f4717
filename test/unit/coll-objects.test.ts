// Object collectives (bcast, scatter, gather, allgather, alltoall, reduce, allreduce, scan, exscan) on
// the fake world: every forced algorithm × p ∈ SIZES × every root, mpi4py's conventions and closed
// forms (test_cco_obj), every predefined op on the value shapes API.md names, non-commutative user
// ops in rank order, and inputs never modified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as coll from '../../runtime/coll/api.js';
import * as ops from '../../runtime/coll/ops.js';
import { COLL_ALGORITHMS, resetSelection, type CollName } from '../../runtime/coll/select.js';
import { decodeObject, encodeObject } from '../../runtime/p2p/codec.js';
import { onAllRanks, ranks, SIZES } from './fake-channel.js';

function forEachAlgorithm(name: CollName, body: (algorithm: string) => void): void {
  describe.each(COLL_ALGORITHMS[name] as readonly string[])(`${name} forced to %s`, (algorithm) => {
    beforeAll(() => resetSelection({ [`TSMPI_COLL_${name.toUpperCase()}`]: algorithm }));
    afterAll(() => resetSelection({}));
    body(algorithm);
  });
}

/** A value of every kind the codec carries, distinct per rank. */
const richValue = (rank: number) => ({
  rank,
  name: `rank-${rank}`,
  big: 2n ** 70n + BigInt(rank),
  list: [rank, [rank, 'nested'], null, true],
  map: new Map<string, number>([['r', rank]]),
  set: new Set([rank, rank + 1]),
  when: new Date(86_400_000 * rank),
  floats: Float32Array.of(rank, 0.5),
});

forEachAlgorithm('bcast', () => {
  it.each(SIZES)('p=%i: every root; the root gets its own object back', async (p) => {
    for (const root of ranks(p)) {
      const value = richValue(root);
      const got = await onAllRanks(p, (ch, r) => coll.bcast(ch, r === root ? value : undefined, root, 1));
      got.forEach((v, r) => {
        expect(v).toEqual(value);
        if (r === root) expect(v).toBe(value);
      });
    }
  });
});

forEachAlgorithm('scatter', () => {
  it.each(SIZES)('p=%i: every root', async (p) => {
    for (const root of ranks(p)) {
      const items = ranks(p).map(richValue);
      const got = await onAllRanks(p, (ch, r) => coll.scatter(ch, r === root ? items : undefined, root, 1));
      got.forEach((v, r) => expect(v).toEqual(richValue(r)));
      expect(items).toEqual(ranks(p).map(richValue));
    }
  });
});

forEachAlgorithm('gather', () => {
  it.each(SIZES)('p=%i: every root; undefined off the root', async (p) => {
    for (const root of ranks(p)) {
      const got = await onAllRanks(p, (ch, r) => coll.gather(ch, richValue(r), root, 1));
      got.forEach((v, r) => expect(v).toEqual(r === root ? ranks(p).map(richValue) : undefined));
    }
  });
});

forEachAlgorithm('allgather', () => {
  it.each(SIZES)('p=%i: everyone gets the list in rank order', async (p) => {
    const got = await onAllRanks(p, (ch, r) => coll.allgather(ch, richValue(r), 1));
    for (const v of got) expect(v).toEqual(ranks(p).map(richValue));
  });
});

forEachAlgorithm('alltoall', () => {
  it.each(SIZES)('p=%i: item j of rank i reaches rank j at position i', async (p) => {
    const got = await onAllRanks(p, (ch, r) => coll.alltoall(ch, ranks(p).map((to) => ({ from: r, to })), 1));
    got.forEach((v, r) => expect(v).toEqual(ranks(p).map((from) => ({ from, to: r }))));
  });
});

/**
 * For each op, what every rank contributes and the expected rank-order reduction over ranks 0 … n−1
 * (n ≥ 1), written out independently as mpi4py's test_cco_obj does.
 */
const OBJECT_CASES: { name: string; op: ops.OpLike; value: (r: number) => unknown; expected: (n: number) => unknown }[] = [
  { name: 'SUM of ranks', op: ops.SUM, value: (r) => r, expected: (n) => (n * (n - 1)) / 2 },
  { name: 'SUM of bigints', op: ops.SUM, value: (r) => 2n ** 64n * BigInt(r), expected: (n) => (2n ** 64n * BigInt(n * (n - 1))) / 2n },
  { name: 'SUM of strings (concatenation)', op: ops.SUM, value: (r) => `${r},`, expected: (n) => ranks(n).map((r) => `${r},`).join('') },
  { name: 'SUM of arrays, nested', op: ops.SUM, value: (r) => [r, [1, r]], expected: (n) => [(n * (n - 1)) / 2, [n, (n * (n - 1)) / 2]] },
  { name: 'SUM of typed arrays', op: ops.SUM, value: (r) => Int32Array.of(r, 1), expected: (n) => Int32Array.of((n * (n - 1)) / 2, n) },
  { name: 'PROD of ranks', op: ops.PROD, value: (r) => r, expected: (n) => (n === 1 ? 0 : 0) },
  { name: 'PROD of rank+1', op: ops.PROD, value: (r) => r + 1, expected: (n) => ranks(n).reduce((a, r) => a * (r + 1), 1) },
  { name: 'MAX', op: ops.MAX, value: (r) => r, expected: (n) => n - 1 },
  { name: 'MIN', op: ops.MIN, value: (r) => r, expected: () => 0 },
  { name: 'MAX of strings', op: ops.MAX, value: (r) => `s${r}`, expected: (n) => `s${n - 1}` },
  { name: 'LAND of booleans', op: ops.LAND, value: (r) => r !== 1, expected: (n) => n < 2 },
  { name: 'LOR of booleans', op: ops.LOR, value: (r) => r === 1, expected: (n) => n >= 2 },
  { name: 'LXOR of booleans', op: ops.LXOR, value: () => true, expected: (n) => n % 2 === 1 },
  { name: 'LAND of numbers is 0/1', op: ops.LAND, value: (r) => r + 5, expected: (n) => (n === 1 ? 5 : 1) },
  { name: 'BAND', op: ops.BAND, value: (r) => 0xff ^ (1 << r), expected: (n) => ranks(n).reduce((a, r) => a & (0xff ^ (1 << r)), 0xff) },
  { name: 'BOR', op: ops.BOR, value: (r) => 1 << r, expected: (n) => 2 ** n - 1 },
  { name: 'BXOR of bigints', op: ops.BXOR, value: (r) => BigInt(r), expected: (n) => ranks(n).reduce((a, r) => a ^ BigInt(r), 0n) },
  { name: 'MAXLOC of (rank, rank)', op: ops.MAXLOC, value: (r) => [r, r], expected: (n) => [n - 1, n - 1] },
  { name: 'MINLOC of (rank, rank)', op: ops.MINLOC, value: (r) => [r, r], expected: () => [0, 0] },
  { name: 'MAXLOC ties keep the lower index', op: ops.MAXLOC, value: (r) => [7, r], expected: () => [7, 0] },
  { name: 'MINLOC over a list of pairs', op: ops.MINLOC, value: (r) => [[r % 2, r], [10 - r, r]], expected: (n) => [[0, 0], [11 - n, n - 1]] },
  { name: 'REPLACE keeps the last rank', op: ops.REPLACE, value: (r) => ({ r }), expected: (n) => ({ r: n - 1 }) },
  { name: 'NO_OP keeps rank 0', op: ops.NO_OP, value: (r) => ({ r }), expected: () => ({ r: 0 }) },
  {
    name: 'plain function, non-commutative (concatenation)',
    op: (a: string, b: string) => `${a}|${b}`,
    value: (r) => `${r}`,
    expected: (n) => ranks(n).join('|'),
  },
  {
    name: 'Op.create non-commutative (2×2 matrix product)',
    op: ops.Op.create((a: number[], b: number[]) => [a[0]! * b[0]! + a[1]! * b[2]!, a[0]! * b[1]! + a[1]! * b[3]!, a[2]! * b[0]! + a[3]! * b[2]!, a[2]! * b[1]! + a[3]! * b[3]!], false),
    value: (r) => [r + 1, 1, 1, 0],
    expected: (n) => {
      let acc = [1, 0, 0, 1];
      for (const r of ranks(n)) {
        const b = [r + 1, 1, 1, 0];
        acc = [acc[0]! * b[0]! + acc[1]! * b[2]!, acc[0]! * b[1]! + acc[1]! * b[3]!, acc[2]! * b[0]! + acc[3]! * b[2]!, acc[2]! * b[1]! + acc[3]! * b[3]!];
      }
      return acc;
    },
  },
  {
    name: 'user op that merges into its first argument (word counts in a Map)',
    op: ops.Op.create((a: Map<string, number>, b: Map<string, number>) => {
      for (const [k, v] of b) a.set(k, (a.get(k) ?? 0) + v);
      return a;
    }),
    value: (r) => new Map([['all', 1], [`w${r % 2}`, r]]),
    expected: (n) => {
      const m = new Map([['all', n]]);
      for (const r of ranks(n)) m.set(`w${r % 2}`, (m.get(`w${r % 2}`) ?? 0) + r);
      return m;
    },
  },
];

describe('object reductions', () => {
  // Forcing the typed-only algorithms must not change anything for objects.
  beforeAll(() => resetSelection({ TSMPI_COLL_REDUCE: 'rabenseifner', TSMPI_COLL_ALLREDUCE: 'ring' }));
  afterAll(() => resetSelection({}));

  it.each(SIZES)('reduce, p=%i: every case at every root, undefined off the root, inputs untouched', async (p) => {
    for (const c of OBJECT_CASES) {
      for (const root of ranks(p)) {
        const got = await onAllRanks(p, async (ch, r) => {
          const mine = c.value(r);
          const result = await coll.reduce(ch, mine, c.op, root, 1);
          expect(mine, `${c.name}: input of rank ${r}`).toEqual(c.value(r));
          return result;
        });
        got.forEach((v, r) => expect(v, `${c.name}, root ${root}, rank ${r}`).toEqual(r === root ? c.expected(p) : undefined));
      }
    }
  });

  it.each(SIZES)('allreduce, p=%i: every case, the same on every rank, inputs untouched', async (p) => {
    for (const c of OBJECT_CASES) {
      const got = await onAllRanks(p, async (ch, r) => {
        const mine = c.value(r);
        const result = await coll.allreduce(ch, mine, c.op, 1);
        expect(mine, `${c.name}: input of rank ${r}`).toEqual(c.value(r));
        return result;
      });
      for (const v of got) expect(v, c.name).toEqual(c.expected(p));
    }
  });

  it.each(SIZES)('scan and exscan, p=%i: every case; exscan is undefined on rank 0', async (p) => {
    for (const c of OBJECT_CASES) {
      const got = await onAllRanks(p, async (ch, r) => {
        const mine = c.value(r);
        const inclusive = await coll.scan(ch, mine, c.op, 1);
        const exclusive = await coll.exscan(ch, mine, c.op, 2);
        expect(mine, `${c.name}: input of rank ${r}`).toEqual(c.value(r));
        return { inclusive, exclusive };
      });
      got.forEach(({ inclusive, exclusive }, r) => {
        expect(inclusive, `${c.name} scan rank ${r}`).toEqual(c.expected(r + 1));
        expect(exclusive, `${c.name} exscan rank ${r}`).toEqual(r === 0 ? undefined : c.expected(r));
      });
    }
  });

  it('scan of rank is rank(rank+1)/2 (mpi4py)', async () => {
    const got = await onAllRanks(8, (ch, r) => coll.scan(ch, r, ops.SUM, 1));
    expect(got).toEqual(ranks(8).map((r) => (r * (r + 1)) / 2));
  });
});

describe('several collectives in flight at once on one world', () => {
  it('calls not awaited one by one pair up by tag', async () => {
    const got = await onAllRanks(5, async (ch, r) =>
      Promise.all([
        coll.allreduce(ch, r, ops.SUM, 1),
        coll.bcast(ch, r === 3 ? 'hello' : undefined, 3, 2),
        coll.allgather(ch, r, 3),
        coll.scan(ch, r, ops.SUM, 4),
      ]),
    );
    got.forEach((v, r) => expect(v).toEqual([10, 'hello', [0, 1, 2, 3, 4], (r * (r + 1)) / 2]));
  });
});

describe('with the runtime\'s own object codec (msgpack, typed arrays out of band)', () => {
  const codec = { encode: (v: unknown) => encodeObject(v).parts, decode: decodeObject };
  it.each([1, 5, 8])('p=%i: forwarded encodings and bundles of encodings decode as sent', async (p) => {
    const big = (r: number) => ({ r, payload: Float64Array.from({ length: 300 }, (_, i) => r + i) }); // out of band
    for (const algorithm of ['binomial', 'linear']) {
      resetSelection({ TSMPI_COLL_SCATTER: algorithm, TSMPI_COLL_GATHER: algorithm, TSMPI_COLL_ALLGATHER: 'bruck' });
      const got = await onAllRanks(
        p,
        async (ch, r) => [
          await coll.bcast(ch, r === 1 % p ? big(7) : undefined, 1 % p, 1),
          await coll.scatter(ch, r === 0 ? ranks(p).map(big) : undefined, 0, 2),
          await coll.gather(ch, big(r), p - 1, 3),
          await coll.allgather(ch, big(r), 4),
          await coll.alltoall(ch, ranks(p).map((to) => [r, to]), 5),
          await coll.allreduce(ch, Float64Array.of(r, 1), ops.SUM, 6),
        ],
        { codec },
      );
      got.forEach((v, r) =>
        expect(v).toEqual([
          big(7),
          big(r),
          r === p - 1 ? ranks(p).map(big) : undefined,
          ranks(p).map(big),
          ranks(p).map((from) => [from, r]),
          Float64Array.of((p * (p - 1)) / 2, p),
        ]),
      );
    }
    resetSelection({});
  });
});
