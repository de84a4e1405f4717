// computeDims: a balanced Cartesian grid shape for a number of ranks, as MPI_Dims_create gives
// (API.md "Communicators and topologies"). Pure arithmetic, no communication.
//
// What "balanced" means. The MPI standard only asks for dimensions "as close to each other as
// possible" and for the entries it fills in to be non-increasing, so implementations differ: Open
// MPI's greedy bin packing gives 72 over 2 dims as [12,6] where [9,8] exists. MPICH (since 3.2)
// follows Träff & Lübbe, "Specification Guideline Violations by MPI_Dims_create" (EuroMPI'15),
// and returns the factorization whose largest and smallest entries differ least. We return exactly
// what MPICH returns, stated as a rule rather than as MPICH's pruned search:
//
//   1. among all ways to write nnodes / prod(fixed entries) as a product of `free` factors,
//      take those minimising (largest − smallest);
//   2. if several remain, take the one whose factors, sorted ascending, are lexicographically
//      largest (the biggest smallest entry, then the biggest second-smallest, …). MPICH never
//      states this; it is what its search yields, keeping the last equally balanced candidate;
//   3. write the factors, largest first, into the free (zero) entries from left to right.
//
// Rule 2 decides e.g. 20 over 4 dims → [5,2,2,1] (not [5,4,1,1]) and 360 over 3 → [10,6,6]
// (not [9,8,5]). This implementation was checked against MPICH 4.0.2's own MPI_Dims_create for
// every nnodes ≤ 20000 with ndims ≤ 7, every nnodes ≤ 5000 with ndims ≤ 12, and 40000 random and
// highly composite nnodes below 2^31 (all identical); test/unit/dims.test.ts checks the rule by brute
// force. One divergence on purpose: MPICH 4.0.2 crashes (divides by zero) for a prime nnodes above
// 46337², past its table of primes; we return [nnodes, 1, …].
//
// Validation follows the standard's wording: an error only when nnodes is not a multiple of the
// product of the fixed entries. So, as in MPICH, `computeDims(n, 0)` is `[]` (a zero-dimensional
// grid, one node) and a fully fixed `dims` whose product divides nnodes is returned unchanged even
// if its product is smaller (createCart then leaves the extra ranks out). Open MPI rejects both.

import { tsmpiError } from '../errors.js';

/** MPI counts ranks in a C int; larger numbers of nodes are surely a mistake. */
export const MAX_NNODES = 0x7fffffff;

/**
 * Shape of a Cartesian grid of `nnodes` nodes, like MPI_Dims_create / mpi4py's `Compute_dims`.
 *
 * `dims` is either the number of dimensions (all free) or an array in which 0 marks a free entry
 * and a positive integer fixes that dimension. Returns a new array (the input is not modified)
 * whose free entries are balanced and non-increasing; fixed entries are kept in place. The same
 * shape as MPICH's MPI_Dims_create. Pure arithmetic, no communication.
 *
 * @throws {@link TsmpiError} `TSMPI_ERR_DIMS` for a non-positive or non-integer `nnodes`, a negative or
 *   non-integer ndims or entry, or when `nnodes` is not a multiple of the product of the fixed entries.
 *
 * @example
 * ```ts
 * computeDims(12, 2);      // [4, 3]
 * computeDims(12, [0, 2]); // [6, 2]
 * // A periodic 2-D grid over every rank (createCart gives null only to ranks left out of the grid).
 * const grid = (await comm.createCart(computeDims(comm.size, 2), [true, true]))!;
 * ```
 */
export function computeDims(nnodes: number, dims: number | readonly number[]): number[] {
  if (!Number.isInteger(nnodes) || nnodes < 1 || nnodes > MAX_NNODES) {
    throw tsmpiError('TSMPI_ERR_DIMS', `computeDims: nnodes must be an integer in 1 … ${MAX_NNODES}, got ${String(nnodes)}`);
  }
  const requested = normalizeDimsArgument(dims);

  let fixedProduct = 1;
  let freeCount = 0;
  for (const entry of requested) {
    if (entry === 0) {
      freeCount++;
      continue;
    }
    fixedProduct *= entry;
    // Stop before the product can lose precision; past nnodes it can no longer divide nnodes.
    if (fixedProduct > nnodes) break;
  }
  if (fixedProduct > nnodes || nnodes % fixedProduct !== 0) {
    throw tsmpiError(
      'TSMPI_ERR_DIMS',
      `computeDims: ${nnodes} nodes cannot be divided into a grid with fixed dimensions [${requested.join(', ')}]`,
    );
  }
  if (freeCount === 0) return requested;

  const factors = balancedFactorization(nnodes / fixedProduct, freeCount);
  let next = 0;
  return requested.map((entry) => (entry === 0 ? factors[next++]! : entry));
}

function normalizeDimsArgument(dims: number | readonly number[]): number[] {
  if (typeof dims === 'number') {
    if (!Number.isInteger(dims) || dims < 0) {
      throw tsmpiError('TSMPI_ERR_DIMS', `computeDims: ndims must be a non-negative integer, got ${dims}`);
    }
    return new Array<number>(dims).fill(0);
  }
  if (!Array.isArray(dims)) {
    throw tsmpiError('TSMPI_ERR_DIMS', 'computeDims: dims must be a number of dimensions or an array of dimension sizes');
  }
  return dims.map((entry: unknown, index) => {
    if (typeof entry !== 'number' || !Number.isInteger(entry) || entry < 0) {
      throw tsmpiError(
        'TSMPI_ERR_DIMS',
        `computeDims: dims[${index}] must be 0 (free) or a positive integer, got ${String(entry)}`,
      );
    }
    return entry;
  });
}

/**
 * The `count` (≥ 1) factors of `n` (≥ 1), largest first, chosen by rules 1 and 2 in the header.
 * Exhaustive branch-and-bound over ascending factor sequences (n ≤ 2^31 has at most 1600 divisors):
 * microseconds for ordinary job sizes, about 25 ms for the most composite n near 2^31 in 12 dims.
 */
function balancedFactorization(n: number, count: number): number[] {
  if (count === 1) return [n];
  // With at least as many slots as prime factors, one prime per slot is optimal: any merge leaves
  // a 1 behind (smallest entry 1) without lowering the largest prime. This also keeps the search
  // below at most 31 levels deep however many dimensions are asked for.
  const primes = primeFactorsDescending(n);
  if (primes.length <= count) {
    return primes.concat(new Array<number>(count - primes.length).fill(1));
  }
  const divisors = divisorsAscending(n);
  const ascending = new Array<number>(count).fill(1);
  // A greedy grid (each prime, largest first, onto the smallest entry) seeds the bound, so the
  // search prunes from its first step instead of after its first complete candidate.
  let best = greedyFactorizationAscending(primes, count);
  let bestSpread = best[count - 1]! - best[0]!;

  // Candidates are compared only when their spread ties the best, so rule 2 needs no bookkeeping
  // beyond the best vector itself.
  const consider = (): void => {
    const spread = ascending[count - 1]! - ascending[0]!;
    if (spread < bestSpread || (spread === bestSpread && ascendingLexGreater(ascending, best))) {
      bestSpread = spread;
      best = ascending.slice();
    }
  };

  const place = (position: number, remaining: number, floor: number): void => {
    const slotsLeft = count - position;
    if (slotsLeft === 1) {
      if (remaining < floor) return;
      ascending[position] = remaining;
      consider();
      return;
    }
    // This factor is the smallest of those still to place, so it is at most their geometric mean.
    const ceiling = integerRootFloor(remaining, slotsLeft);
    // Larger smallest factors first: they lead to balanced grids, so the bound bites early.
    for (let i = lastIndexAtMost(divisors, ceiling); i >= 0; i--) {
      const factor = divisors[i]!;
      if (factor < floor) break;
      if (remaining % factor !== 0) continue;
      // Bound: the largest factor will be at least the root of what is left over the slots after
      // this one, so no completion can beat (or tie) the best spread found so far.
      const smallest = position === 0 ? factor : ascending[0]!;
      const largestAtLeast = Math.max(factor, integerRootCeil(remaining / factor, slotsLeft - 1));
      if (largestAtLeast - smallest > bestSpread) continue;
      ascending[position] = factor;
      place(position + 1, remaining / factor, factor);
    }
  };

  place(0, n, 1);
  return best.slice().reverse();
}

/** True when `a` is lexicographically greater than `b` (both ascending, same length). */
function ascendingLexGreater(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! > b[i]!;
  }
  return false;
}

/** Open MPI's assignment: each prime, largest first, multiplies the currently smallest entry. */
function greedyFactorizationAscending(primesDescending: readonly number[], count: number): number[] {
  const entries = new Array<number>(count).fill(1);
  for (const prime of primesDescending) {
    let smallest = 0;
    for (let i = 1; i < count; i++) if (entries[i]! < entries[smallest]!) smallest = i;
    entries[smallest]! *= prime;
  }
  return entries.sort((a, b) => a - b);
}

/** Index of the last entry ≤ limit in an ascending array (-1 if none). */
function lastIndexAtMost(ascendingValues: readonly number[], limit: number): number {
  let low = 0;
  let high = ascendingValues.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ascendingValues[middle]! <= limit) low = middle + 1;
    else high = middle;
  }
  return low - 1;
}

/** Largest integer x with x^k ≤ n. */
function integerRootFloor(n: number, k: number): number {
  let x = Math.max(1, Math.round(n ** (1 / k)));
  while (x > 1 && x ** k > n) x--;
  while ((x + 1) ** k <= n) x++;
  return x;
}

/** Smallest integer x with x^k ≥ n; floating-point root corrected so rounding never misleads the bound. */
function integerRootCeil(n: number, k: number): number {
  let x = Math.max(1, Math.round(n ** (1 / k)));
  while (x ** k < n) x++;
  while (x > 1 && (x - 1) ** k >= n) x--;
  return x;
}

/** Prime factors of n with multiplicity, largest first (trial division; n ≤ 2^31). */
function primeFactorsDescending(n: number): number[] {
  const factors: number[] = [];
  let rest = n;
  for (let p = 2; p * p <= rest; p++) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  if (rest > 1) factors.push(rest);
  return factors.reverse();
}

function divisorsAscending(n: number): number[] {
  const small: number[] = [];
  const large: number[] = [];
  for (let d = 1; d * d <= n; d++) {
    if (n % d !== 0) continue;
    small.push(d);
    if (d * d !== n) large.push(n / d);
  }
  return small.concat(large.reverse());
}
