// Unit tests of runtime/comm/dims.ts: computeDims against values MPICH's MPI_Dims_create returns,
// its argument errors, and exhaustive property checks against brute-force enumeration of every
// factorization (product, non-increasing order, optimal balance, the tie-break rule).
import { describe, expect, it } from 'vitest';
import { computeDims } from '../../runtime/comm/dims.js';
import { isTsmpiError } from '../../runtime/errors.js';

/** Every way to write n as a product of k factors, each listed largest first. */
function allFactorizations(n: number, k: number, largestAllowed = n): number[][] {
  if (k === 1) return n <= largestAllowed ? [[n]] : [];
  const found: number[][] = [];
  for (let first = Math.min(n, largestAllowed); first >= 1; first--) {
    if (n % first !== 0) continue;
    for (const rest of allFactorizations(n / first, k - 1, first)) found.push([first, ...rest]);
  }
  return found;
}

const spread = (dims: readonly number[]): number => dims[0]! - dims[dims.length - 1]!;
const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The documented tie-break: ascending order compared lexicographically, larger wins. */
function ascendingLexCompare(a: readonly number[], b: readonly number[]): number {
  const ascA = [...a].reverse();
  const ascB = [...b].reverse();
  for (let i = 0; i < ascA.length; i++) if (ascA[i] !== ascB[i]) return ascA[i]! - ascB[i]!;
  return 0;
}

function expectDimsError(run: () => unknown): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(isTsmpiError(caught, 'TSMPI_ERR_DIMS'), `expected TSMPI_ERR_DIMS, got ${String(caught)}`).toBe(true);
}

describe('computeDims: values MPICH returns', () => {
  // Each row is what MPICH 4.0.2's MPI_Dims_create returns (checked with the real library), but for
  // the prime 2^31-1, on which it crashes.
  const table: [nnodes: number, dims: number | number[], expected: number[]][] = [
    [6, 2, [3, 2]],
    [12, 3, [3, 2, 2]],
    [7, 2, [7, 1]],
    [24, 3, [4, 3, 2]],
    [16, [0, 4], [4, 4]],
    [1, 3, [1, 1, 1]],
    [1, 2, [1, 1]],
    [6, [0, 3, 0], [2, 3, 1]], // the MPI standard's example
    [6, 4, [3, 2, 1, 1]],
    [100, 3, [5, 5, 4]],
    [96, 3, [6, 4, 4]],
    [72, 2, [9, 8]], // Open MPI's greedy packing gives [12, 6]
    [2 ** 30, 3, [1024, 1024, 1024]],
    [2 ** 31 - 1, 2, [2 ** 31 - 1, 1]], // a prime; MPICH 4.0.2 itself crashes on this one
    // Ties in balance, decided by the larger smallest entry and so on upwards:
    [20, 4, [5, 2, 2, 1]],
    [168, 4, [7, 4, 3, 2]],
    [360, 3, [10, 6, 6]],
    [18000, 5, [10, 10, 6, 6, 5]],
    [19800, 5, [11, 10, 6, 6, 5]],
    // Nothing free: returned as given while the product divides nnodes (MPICH; Open MPI rejects).
    [12, [2, 3], [2, 3]],
    [12, [3, 4], [3, 4]],
    // Zero dimensions: a grid of one node, whatever nnodes is.
    [1, 0, []],
    [5, 0, []],
    [5, [], []],
  ];
  for (const [nnodes, dims, expected] of table) {
    it(`(${nnodes}, ${JSON.stringify(dims)}) → ${JSON.stringify(expected)}`, () => {
      expect(computeDims(nnodes, dims)).toEqual(expected);
    });
  }

  it('keeps fixed entries in place and balances the free ones around them', () => {
    expect(computeDims(24, [0, 2, 0])).toEqual([4, 2, 3]);
    expect(computeDims(60, [0, 0, 5, 0])).toEqual([3, 2, 5, 2]);
    expect(computeDims(8, [2, 2, 2])).toEqual([2, 2, 2]);
    expect(computeDims(8, [0, 8])).toEqual([1, 8]);
  });

  it('returns a new array and leaves the argument alone', () => {
    const request = [0, 4];
    const result = computeDims(16, request);
    expect(request).toEqual([0, 4]);
    expect(result).not.toBe(request);
    const allFixed = [2, 3];
    expect(computeDims(6, allFixed)).not.toBe(allFixed);
  });
});

describe('computeDims: errors', () => {
  const cases: [label: string, nnodes: unknown, dims: unknown][] = [
    ['nnodes not divisible by the fixed entries', 7, [2, 0]],
    ['a fixed entry larger than nnodes', 4, [8, 0]],
    ['fixed entries with a product not dividing nnodes', 12, [5, 0]],
    ['fully fixed dims not dividing nnodes', 12, [5, 2]],
    ['zero nodes', 0, 2],
    ['negative nodes', -4, 2],
    ['non-integer nodes', 6.5, 2],
    ['NaN nodes', Number.NaN, 2],
    ['nodes beyond a C int', 2 ** 31, 2],
    ['nodes given as a string', '6', 2],
    ['negative ndims', 6, -1],
    ['non-integer ndims', 6, 2.5],
    ['infinite ndims', 6, Number.POSITIVE_INFINITY],
    ['a negative entry', 6, [-1, 0]],
    ['a negative entry after a free one', 6, [0, -2]],
    ['a non-integer entry', 6, [0, 1.5]],
    ['a NaN entry', 6, [0, Number.NaN]],
    ['an entry given as a string', 6, [0, '2']],
    ['dims neither a number nor an array', 6, '2'],
    ['dims missing', 6, undefined],
  ];
  for (const [label, nnodes, dims] of cases) {
    it(`TSMPI_ERR_DIMS for ${label}: (${String(nnodes)}, ${JSON.stringify(dims) ?? String(dims)})`, () => {
      expectDimsError(() => computeDims(nnodes as number, dims as number[]));
    });
  }
});

describe('computeDims: exhaustive properties', () => {
  it('for nnodes 1…200 and ndims 1…4 gives the optimally balanced factorization', () => {
    let checked = 0;
    for (let ndims = 1; ndims <= 4; ndims++) {
      for (let nnodes = 1; nnodes <= 200; nnodes++) {
        const dims = computeDims(nnodes, ndims);
        const context = `computeDims(${nnodes}, ${ndims}) = [${dims}]`;
        expect(dims.length, context).toBe(ndims);
        expect(product(dims), context).toBe(nnodes);
        for (let i = 1; i < ndims; i++) expect(dims[i]!, context).toBeLessThanOrEqual(dims[i - 1]!);

        const candidates = allFactorizations(nnodes, ndims);
        const bestSpread = Math.min(...candidates.map(spread));
        const bestRatio = Math.min(...candidates.map((c) => c[0]! / c[ndims - 1]!));
        expect(spread(dims), context).toBe(bestSpread);
        // Not a rule MPICH states, but it holds wherever we have looked (all nnodes ≤ 5000, ndims ≤ 7).
        expect(dims[0]! / dims[ndims - 1]!, context).toBe(bestRatio);
        const tied = candidates.filter((c) => spread(c) === bestSpread);
        const preferred = tied.reduce((a, b) => (ascendingLexCompare(b, a) > 0 ? b : a));
        expect(dims, context).toEqual(preferred);
        checked++;
      }
    }
    expect(checked).toBe(800);
  });

  it('for ndims 5…8 and smooth nnodes also matches brute force', () => {
    for (let ndims = 5; ndims <= 8; ndims++) {
      for (const nnodes of [32, 48, 64, 72, 96, 120, 144, 180, 210, 240, 360, 420, 720, 1024, 2310, 5040]) {
        const dims = computeDims(nnodes, ndims);
        const candidates = allFactorizations(nnodes, ndims);
        const bestSpread = Math.min(...candidates.map(spread));
        const tied = candidates.filter((c) => spread(c) === bestSpread);
        const preferred = tied.reduce((a, b) => (ascendingLexCompare(b, a) > 0 ? b : a));
        expect(dims, `computeDims(${nnodes}, ${ndims})`).toEqual(preferred);
      }
    }
  });

  it('with fixed entries balances nnodes / prod(fixed) over the free entries, or fails when it does not divide', () => {
    const patterns = [[0, 2], [3, 0, 0], [0, 0, 4], [2, 0, 2, 0], [0, 1, 0], [5, 0]];
    for (const pattern of patterns) {
      const fixedProduct = product(pattern.filter((d) => d !== 0));
      const freeCount = pattern.filter((d) => d === 0).length;
      for (let nnodes = 1; nnodes <= 120; nnodes++) {
        if (nnodes % fixedProduct !== 0) {
          expectDimsError(() => computeDims(nnodes, pattern));
          continue;
        }
        const dims = computeDims(nnodes, pattern);
        const free = computeDims(nnodes / fixedProduct, freeCount);
        let next = 0;
        expect(dims).toEqual(pattern.map((d) => (d === 0 ? free[next++] : d)));
        expect(product(dims)).toBe(nnodes);
      }
    }
  });

  it('more free dimensions than prime factors: one prime per entry, then ones', () => {
    expect(computeDims(2 * 2 * 3 * 7, 6)).toEqual([7, 3, 2, 2, 1, 1]);
    expect(computeDims(2 ** 20, 25)).toEqual([...new Array(20).fill(2), 1, 1, 1, 1, 1]);
    expect(computeDims(1, 40)).toEqual(new Array(40).fill(1));
  });

  it('stays fast for the most composite nnodes below 2^31', () => {
    const started = performance.now();
    for (const nnodes of [2095133040, 1396755360, 735134400]) {
      for (let ndims = 2; ndims <= 16; ndims++) {
        const dims = computeDims(nnodes, ndims);
        expect(product(dims)).toBe(nnodes);
      }
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
