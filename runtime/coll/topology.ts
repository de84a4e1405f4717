// Who talks to whom: the communication shapes the collective algorithms share (binomial trees,
// the power-of-two butterfly with MPICH's fold-in of the extra ranks, even splits of a buffer into
// blocks), computed in one place so that every algorithm, and its failure relay, agree on them.

/** Rank relative to `root` (the root is 0), and back. */
export function relativeRank(rank: number, root: number, size: number): number {
  return (rank - root + size) % size;
}
export function absoluteRank(rel: number, root: number, size: number): number {
  return (rel + root) % size;
}

/** One edge of a binomial tree, in relative ranks: the child and the relative ranks its subtree spans. */
export interface SubtreeEdge {
  /** Relative rank of the child (first rank of its subtree). */
  readonly child: number;
  /** Number of ranks in the child's subtree: [child, child + span). */
  readonly span: number;
}

export interface BinomialNode {
  /** Relative rank of the parent, or -1 at the root. */
  readonly parent: number;
  /** Ranks in this node's subtree, itself included: [rel, rel + span). */
  readonly span: number;
  /** Children, largest subtree first (the order a broadcast should feed them). */
  readonly children: readonly SubtreeEdge[];
}

/**
 * The binomial tree of MPICH's bcast/scatter/gather/reduce over relative ranks 0 … size-1 rooted at 0:
 * the parent of r clears r's lowest set bit, and r's children are r + 2^k for every 2^k below that
 * bit. Every subtree is a contiguous range of relative ranks, which is what lets scatter/gather move
 * one message per edge and lets a reduction keep rank order.
 */
export function binomialNode(rel: number, size: number): BinomialNode {
  const lowBit = rel === 0 ? highestPowerOfTwoAtLeast(size) : rel & -rel;
  const children: SubtreeEdge[] = [];
  for (let mask = lowBit >> 1; mask > 0; mask >>= 1) {
    const child = rel + mask;
    if (child < size) children.push({ child, span: Math.min(mask, size - child) });
  }
  return {
    parent: rel === 0 ? -1 : rel - lowBit,
    span: Math.min(lowBit, size - rel),
    children,
  };
}

function highestPowerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** Largest power of two ≤ n (n ≥ 1). */
export function powerOfTwoFloor(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** ⌈lg n⌉ (0 for n ≤ 1). */
export function ceilLog2(n: number): number {
  let k = 0;
  while (1 << k < n) k++;
  return k;
}

/**
 * MPICH's fold of a non-power-of-two size onto the largest power of two `pof2` ≤ size, used by the
 * butterfly algorithms (recursive doubling, Rabenseifner). The first `2·extra` ranks pair up
 * (2i, 2i+1): the even one hands its data to the odd one and sits out; the odd one becomes butterfly
 * rank i. Ranks ≥ 2·extra become butterfly rank (rank − extra). Butterfly ranks are monotonic in real
 * ranks and every butterfly rank stands for a contiguous range of real ranks, so combining lower
 * butterfly ranks on the left keeps rank order.
 */
export class Fold {
  readonly pof2: number;
  readonly extra: number;
  /** This rank's butterfly rank, or -1 if it sits out (even rank below 2·extra). */
  readonly butterflyRank: number;
  /** The rank this one pairs with in the fold (the odd partner of a sitting-out rank and vice versa), or -1. */
  readonly foldPartner: number;

  constructor(readonly rank: number, readonly size: number) {
    this.pof2 = powerOfTwoFloor(size);
    this.extra = size - this.pof2;
    if (rank < 2 * this.extra) {
      const even = rank % 2 === 0;
      this.butterflyRank = even ? -1 : rank >> 1;
      this.foldPartner = even ? rank + 1 : rank - 1;
    } else {
      this.butterflyRank = rank - this.extra;
      this.foldPartner = -1;
    }
  }

  /** True if this rank gives its data away and only gets the result back. */
  get sitsOut(): boolean {
    return this.butterflyRank < 0;
  }

  /** Real rank of a butterfly rank. */
  realRank(butterflyRank: number): number {
    return butterflyRank < this.extra ? butterflyRank * 2 + 1 : butterflyRank + this.extra;
  }

  /** Real ranks of this rank's butterfly partners, step by step (distance 1, 2, 4, …); empty if it sits out. */
  partners(): number[] {
    const out: number[] = [];
    if (this.sitsOut) return out;
    for (let mask = 1; mask < this.pof2; mask <<= 1) out.push(this.realRank(this.butterflyRank ^ mask));
    return out;
  }

  /** Every rank this rank sends to during a fold + butterfly + unfold (its failure-relay set). */
  peers(): number[] {
    return this.foldPartner >= 0 ? [...this.partners(), this.foldPartner] : this.partners();
  }
}

/**
 * An even split of `length` elements into `parts` blocks whose sizes are multiples of `unit` (so that
 * MAXLOC's interleaved [value, index] pairs are never cut): the first blocks get one unit more.
 */
export class Split {
  readonly counts: number[];
  readonly displs: number[];

  constructor(length: number, parts: number, unit = 1) {
    const units = Math.floor(length / unit);
    const base = Math.floor(units / parts);
    const more = units % parts;
    this.counts = new Array<number>(parts);
    this.displs = new Array<number>(parts);
    let at = 0;
    for (let i = 0; i < parts; i++) {
      this.counts[i] = (base + (i < more ? 1 : 0)) * unit;
      this.displs[i] = at;
      at += this.counts[i]!;
    }
  }

  /** Elements in blocks [first, end). */
  lengthOf(first: number, end: number): number {
    return end <= first ? 0 : this.displs[end - 1]! + this.counts[end - 1]! - this.displs[first]!;
  }
}
