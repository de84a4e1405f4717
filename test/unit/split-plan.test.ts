// Unit tests of runtime/comm/split-plan.ts: MPI_Comm_split's grouping by colour and ordering by
// (key, old rank), UNDEFINED, argument errors, and a randomised check with many colours and keys
// against a direct model of the rule.
import { describe, expect, it } from 'vitest';
import { planSplit, splitArgsError, type SplitEntry } from '../../runtime/comm/split-plan.js';
import { UNDEFINED } from '../../runtime/constants.js';
import { expectTsmpiError } from '../helpers/errors.js';

const entriesOf = (colors: number[], keys: number[] = colors.map((_, rank) => rank)): SplitEntry[] =>
  colors.map((color, rank) => ({ color, key: keys[rank]! }));

/** A small deterministic generator, so a failing case can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('planSplit: grouping and ordering', () => {
  it('same colour, same communicator; with key = rank the old order is kept', () => {
    const entries = entriesOf([0, 1, 0, 1, 0, 1]);
    expect(planSplit(entries, 0)).toEqual({ newRank: 0, newSize: 3, members: [0, 2, 4] });
    expect(planSplit(entries, 4)).toEqual({ newRank: 2, newSize: 3, members: [0, 2, 4] });
    expect(planSplit(entries, 3)).toEqual({ newRank: 1, newSize: 3, members: [1, 3, 5] });
  });

  it('orders by key, negative keys included', () => {
    const entries = entriesOf([7, 7, 7, 7], [3, -2, 10, 0]);
    expect(planSplit(entries, 0)!.members).toEqual([1, 3, 0, 2]);
    expect(planSplit(entries, 2)).toEqual({ newRank: 3, newSize: 4, members: [1, 3, 0, 2] });
  });

  it('reversing the keys reverses the order', () => {
    const size = 9;
    const entries = entriesOf(new Array<number>(size).fill(0), Array.from({ length: size }, (_, r) => size - r));
    expect(planSplit(entries, 0)).toEqual({ newRank: 8, newSize: 9, members: [8, 7, 6, 5, 4, 3, 2, 1, 0] });
  });

  it('breaks equal keys by old rank', () => {
    const entries = entriesOf([0, 0, 0, 0, 0], [1, 0, 1, 0, 1]);
    expect(planSplit(entries, 4)!.members).toEqual([1, 3, 0, 2, 4]);
    const allEqual = entriesOf([3, 3, 3], [0, 0, 0]);
    expect(planSplit(allEqual, 2)).toEqual({ newRank: 2, newSize: 3, members: [0, 1, 2] });
  });

  it('UNDEFINED gives null and leaves the rank out of every other group', () => {
    const entries = entriesOf([UNDEFINED, 0, UNDEFINED, 0, 1]);
    expect(planSplit(entries, 0)).toBeNull();
    expect(planSplit(entries, 2)).toBeNull();
    expect(planSplit(entries, 3)).toEqual({ newRank: 1, newSize: 2, members: [1, 3] });
    expect(planSplit(entries, 4)).toEqual({ newRank: 0, newSize: 1, members: [4] });
    expect(planSplit(entriesOf([UNDEFINED, UNDEFINED]), 1)).toBeNull();
  });

  it('works for a single rank and for colours and keys at the edges of the safe integers', () => {
    expect(planSplit([{ color: 0, key: 0 }], 0)).toEqual({ newRank: 0, newSize: 1, members: [0] });
    const big = Number.MAX_SAFE_INTEGER;
    const entries = entriesOf([big, big, big], [big, -big, 0]);
    expect(planSplit(entries, 0)!.members).toEqual([1, 2, 0]);
  });

  it('many colours and keys: every rank agrees with the model and with its fellow members', () => {
    const random = seededRandom(20240607);
    for (let round = 0; round < 40; round++) {
      const size = 1 + Math.floor(random() * 80);
      const colourCount = 1 + Math.floor(random() * 12);
      const entries: SplitEntry[] = Array.from({ length: size }, () => ({
        color: random() < 0.15 ? UNDEFINED : Math.floor(random() * colourCount) * 1000,
        key: Math.floor(random() * 11) - 5, // small range: plenty of equal keys to tie-break
      }));
      const plans = entries.map((_, rank) => planSplit(entries, rank));

      const covered = new Set<number>();
      entries.forEach((entry, rank) => {
        const plan = plans[rank]!;
        if (entry.color === UNDEFINED) {
          expect(plan).toBeNull();
          return;
        }
        const expected = entries
          .map((e, r) => ({ ...e, rank: r }))
          .filter((e) => e.color === entry.color)
          .sort((a, b) => a.key - b.key || a.rank - b.rank)
          .map((e) => e.rank);
        expect(plan).toEqual({ newRank: expected.indexOf(rank), newSize: expected.length, members: expected });
        // Every member computes the same member list and sits at its own index in it.
        for (const member of expected) expect(plans[member]!.members).toEqual(expected);
        expect(plan!.members[plan!.newRank]).toBe(rank);
        covered.add(rank);
      });
      // The new communicators partition exactly the ranks with a defined colour.
      const defined = entries.flatMap((e, r) => (e.color === UNDEFINED ? [] : [r]));
      expect([...covered].sort((a, b) => a - b)).toEqual(defined);
    }
  });

  it('plans a large communicator quickly', () => {
    const size = 20000;
    const entries = Array.from({ length: size }, (_, rank) => ({ color: rank % 7, key: -rank }));
    const started = performance.now();
    const plan = planSplit(entries, 6)!;
    expect(performance.now() - started).toBeLessThan(1000);
    expect(plan.newSize).toBe(Math.ceil((size - 6) / 7));
    expect(plan.members[0]).toBe(19998); // keys are -rank: the highest rank of colour 6 comes first
    expect(plan.members[plan.newRank]).toBe(6);
    expect(plan.newRank).toBe(plan.newSize - 1); // rank 6 has the largest key (-6) of its colour
  });
});

describe('planSplit and splitArgsError: errors', () => {
  it('TSMPI_ERR_ARG for a colour that is negative (other than UNDEFINED) or not an integer', () => {
    for (const color of [-1, UNDEFINED - 1, UNDEFINED + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null]) {
      expectTsmpiError(() => { throw splitArgsError(color as number, 0); }, 'TSMPI_ERR_ARG');
      expectTsmpiError(() => planSplit([{ color: color as number, key: 0 }], 0), 'TSMPI_ERR_ARG');
    }
  });

  it('TSMPI_ERR_ARG for a key that is not an integer', () => {
    for (const key of [0.5, Number.NaN, Number.NEGATIVE_INFINITY, 2 ** 60, '0', undefined]) {
      expectTsmpiError(() => { throw splitArgsError(0, key as number); }, 'TSMPI_ERR_ARG');
      expectTsmpiError(() => planSplit([{ color: 0, key: key as number }], 0), 'TSMPI_ERR_ARG');
    }
  });

  it('accepts what MPI accepts', () => {
    expect(splitArgsError(UNDEFINED, 0)).toBeUndefined();
    expect(splitArgsError(0, -12)).toBeUndefined();
    expect(splitArgsError(2 ** 40, 2 ** 40)).toBeUndefined();
  });

  it('every rank rejects a bad entry of any rank, so no rank proceeds alone', () => {
    const entries = entriesOf([0, 0, -5, 1]);
    for (let rank = 0; rank < entries.length; rank++) {
      expectTsmpiError(() => planSplit(entries, rank), 'TSMPI_ERR_ARG');
    }
    expect(() => planSplit(entries, 0)).toThrow(/rank 2/);
  });

  it('TSMPI_ERR_ARG for malformed entries, holes included', () => {
    const withHole: SplitEntry[] = [{ color: 0, key: 0 }];
    withHole[2] = { color: 0, key: 0 };
    expectTsmpiError(() => planSplit(withHole, 0), 'TSMPI_ERR_ARG');
    expectTsmpiError(() => planSplit([{ color: 0, key: 0 }, null as unknown as SplitEntry], 0), 'TSMPI_ERR_ARG');
    expectTsmpiError(() => planSplit('x' as unknown as SplitEntry[], 0), 'TSMPI_ERR_ARG');
  });

  it('TSMPI_ERR_RANK for a caller rank outside the entries', () => {
    const entries = entriesOf([0, 0]);
    for (const rank of [-1, 2, 0.5, Number.NaN]) expectTsmpiError(() => planSplit(entries, rank), 'TSMPI_ERR_RANK');
    expectTsmpiError(() => planSplit([], 0), 'TSMPI_ERR_RANK');
  });
});
