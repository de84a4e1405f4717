// Reduction operations (API.md "Reduction operations"): the predefined ops, Op.create for user ops,
// how each op combines objects (lowercase collectives) and typed arrays (capitalized collectives).
//
// Operand order: every combine is op(a, b) with `a` the operand from the lower ranks; the algorithms
// keep that order, so non-commutative ops (user ops, REPLACE, NO_OP) are correct.
// Inputs are never modified: object combines build new values; typed kernels write into an output
// buffer the algorithm owns (its accumulator), never into a user's send buffer.
//
// Typed kernels are tight indexed loops generated once per (op, element kind) with `new Function`:
// a single loop shared by all eleven kinds would see several array maps at its element loads and go
// megamorphic in V8 (measured ~25× slower on 1 Mi doubles); one function per kind stays monomorphic,
// and unrolled (KERNEL_UNROLL), so SUM over Float64Array runs ~2.7× faster than a hand-written
// `out[i] = a[i] + b[i]` loop.
import { tsmpiError } from '../errors.js';
import { DTYPE_CONSTRUCTORS, dtypeName, dtypeOf, isBigIntDtype, isIntegerDtype, type TypedArray } from '../wire/dtype.js';

/** The names of the predefined ops. */
export type BuiltinOpName =
  | 'SUM' | 'PROD' | 'MAX' | 'MIN' | 'LAND' | 'LOR' | 'LXOR' | 'BAND' | 'BOR' | 'BXOR'
  | 'MAXLOC' | 'MINLOC' | 'REPLACE' | 'NO_OP';

/**
 * A user reduction: returns the combination of `a` (from lower ranks) and `b` (from higher ranks).
 * On objects it gets two values. On typed arrays it gets two whole arrays of the same kind and length
 * (never segments: collectives called with a user op use algorithms that combine whole buffers) and
 * must return an array of that kind and length; it may return `a` or `b` after modifying it in place
 * (both are the runtime's scratch copies, never the caller's buffers).
 * @inline
 */
// The operands' types depend on what the user reduces; `any` keeps `Op.create((a: number, b: number) => …)` typed.
export type ReduceFunction = (a: any, b: any) => any;

/**
 * What a collective accepts as an op: an {@link Op} (a predefined one such as {@link SUM}, or
 * `Op.create(fn)`), or a plain function `(a, b) => c` (treated as non-commutative), where `a` is the
 * operand from the lower ranks.
 */
export type OpLike = Op | ReduceFunction;

/** out[i…] = a[i…] op b[i…] over out.length elements; `out` may be `a` or `b`. */
export type TypedKernel = (out: TypedArray, a: TypedArray, b: TypedArray) => void;

/**
 * A reduction operation, for `reduce`, `allreduce`, `scan`, `exscan` and their typed forms (MPI_Op).
 * The predefined ops are {@link SUM}, {@link PROD}, {@link MAX}, {@link MIN}, {@link LAND}, {@link LOR},
 * {@link LXOR}, {@link BAND}, {@link BOR}, {@link BXOR}, {@link MAXLOC}, {@link MINLOC}, {@link REPLACE}
 * and {@link NO_OP}; {@link Op.create} makes one from a function.
 *
 * Operands are combined in rank order (rank 0 leftmost) and in a fixed order that does not depend on
 * timing, so every rank gets the same result and a non-commutative op is correct. The values a rank
 * passes in are never modified.
 *
 * On objects (lowercase collectives): numbers and bigints combine arithmetically, booleans logically,
 * strings with SUM (concatenation), MAX and MIN; arrays and typed arrays of equal length element by
 * element; MAXLOC/MINLOC take `[value, index]` pairs (ties: the lower index). On typed arrays
 * (capitalized collectives): element by element; MAXLOC/MINLOC take interleaved
 * `[value, index, value, index, …]`; the bitwise ops need an integer element type.
 */
export class Op {
  private constructor(
    /** The op's name: `'SUM'`… for the predefined ops, the function's name (or `'user op'`) for Op.create's. */
    readonly name: string,
    /** Whether op(a, b) = op(b, a); only ever used to pick a faster algorithm, never to reorder a result. */
    readonly commute: boolean,
    /** @internal Set for the predefined ops. */
    readonly builtin: BuiltinOpName | undefined,
    /** @internal The function of an op made by Op.create. */
    readonly userFn: ReduceFunction | undefined,
  ) {}

  /**
   * A user op, as MPI_Op_create / mpi4py's Op.Create: `fn(a, b)` with `a` from the lower ranks.
   *
   * On objects `fn` gets two values and returns their combination. On typed arrays it gets two whole
   * arrays of the same kind and length and must return one of that kind and length (it may modify and
   * return `a` or `b`: both are the runtime's scratch copies). An error thrown by `fn` fails the
   * collective with `TSMPI_ERR_OP`.
   *
   * @param fn - the combining function.
   * @param commute - whether `fn(a, b)` equals `fn(b, a)` (default true); it can only let the runtime
   *   pick a faster algorithm, never reorder the operands.
   * @throws {@link TsmpiError} `TSMPI_ERR_OP` when `fn` is not a function.
   *
   * @example
   * ```ts
   * // The pair with the larger norm, as a user op on objects.
   * const longer = Op.create((a: [number, number], b: [number, number]) => (Math.hypot(...a) >= Math.hypot(...b) ? a : b));
   * const best = await comm.allreduce<[number, number]>([Math.cos(comm.rank), comm.rank], longer);
   * ```
   */
  static create(fn: ReduceFunction, commute = true): Op {
    if (typeof fn !== 'function') throw tsmpiError('TSMPI_ERR_OP', `Op.create needs a function, got ${describe(fn)}`);
    return new Op(fn.name || 'user op', commute, undefined, fn);
  }

  /** @internal The predefined ops are made once, below. */
  static predefined(name: BuiltinOpName, commute: boolean): Op {
    return new Op(name, commute, name, undefined);
  }

  /**
   * Combines two values as a reduction would (objects, numbers, typed arrays…); `a` is the lower-rank
   * operand. Neither is modified. Runs locally: no communication.
   *
   * @throws {@link TsmpiError} `TSMPI_ERR_OP` when the op is not defined on these values (or a user
   *   op's function threw); `TSMPI_ERR_COUNT` for arrays of different lengths, or MAXLOC/MINLOC over a
   *   typed array of odd length.
   *
   * @example
   * ```ts
   * SUM.apply([1, 2], [10, 20]); // [11, 22]
   * MAXLOC.apply([3, 1], [3, 0]); // [3, 0]: ties keep the lower index
   * ```
   */
  apply(a: unknown, b: unknown): unknown {
    return this.builtin ? combineValues(this.builtin, a, b) : callUserFn(this, a, b);
  }

  /** The op's {@link Op.name | name}, so that an op reads well in messages. */
  toString(): string {
    return this.name;
  }
}

/**
 * Sum (MPI_SUM): numbers and bigints add, strings concatenate (in rank order), arrays and typed arrays
 * add element by element. The default op of every reduction.
 *
 * @example
 * ```ts
 * const total = await comm.allreduce(comm.rank, SUM); // 0 + 1 + … + (size - 1) on every rank
 * ```
 */
export const SUM = Op.predefined('SUM', true);
/** Product (MPI_PROD) of numbers or bigints, element by element for arrays and typed arrays. */
export const PROD = Op.predefined('PROD', true);
/** Maximum (MPI_MAX) of numbers, bigints or strings, element by element for arrays and typed arrays. */
export const MAX = Op.predefined('MAX', true);
/** Minimum (MPI_MIN) of numbers, bigints or strings, element by element for arrays and typed arrays. */
export const MIN = Op.predefined('MIN', true);
/** Logical and (MPI_LAND): booleans give a boolean; numbers and typed elements give 1 or 0 (non-zero is true). */
export const LAND = Op.predefined('LAND', true);
/** Logical or (MPI_LOR): booleans give a boolean; numbers and typed elements give 1 or 0 (non-zero is true). */
export const LOR = Op.predefined('LOR', true);
/** Logical exclusive or (MPI_LXOR): booleans give a boolean; numbers and typed elements give 1 or 0 (non-zero is true). */
export const LXOR = Op.predefined('LXOR', true);
/** Bitwise and (MPI_BAND) of integers (numbers, bigints, integer typed arrays; booleans as LAND); TSMPI_ERR_OP on non-integers. */
export const BAND = Op.predefined('BAND', true);
/** Bitwise or (MPI_BOR) of integers (numbers, bigints, integer typed arrays; booleans as LOR); TSMPI_ERR_OP on non-integers. */
export const BOR = Op.predefined('BOR', true);
/** Bitwise exclusive or (MPI_BXOR) of integers (numbers, bigints, integer typed arrays; booleans as LXOR); TSMPI_ERR_OP on non-integers. */
export const BXOR = Op.predefined('BXOR', true);
/**
 * The maximum and where it is (MPI_MAXLOC): operands are `[value, index]` pairs on objects, interleaved
 * `[value, index, value, index, …]` on typed arrays; ties keep the lower index.
 *
 * @example
 * ```ts
 * const [best, where] = await comm.allreduce<[number, number]>([score, comm.rank], MAXLOC);
 * ```
 */
export const MAXLOC = Op.predefined('MAXLOC', true);
/**
 * The minimum and where it is (MPI_MINLOC): operands are `[value, index]` pairs on objects, interleaved
 * `[value, index, value, index, …]` on typed arrays; ties keep the lower index.
 */
export const MINLOC = Op.predefined('MINLOC', true);
/** Keeps the operand of the highest rank (mpi4py: `lambda a, b: b`). */
export const REPLACE = Op.predefined('REPLACE', false);
/** Keeps the operand of the lowest rank (mpi4py: `lambda a, b: a`). */
export const NO_OP = Op.predefined('NO_OP', false);

const plainFunctionOps = new WeakMap<ReduceFunction, Op>();

/**
 * The Op for what a caller passed. A plain function counts as non-commutative: nothing says it
 * commutes, and assuming it does would only buy a faster algorithm at the risk of a wrong result.
 */
export function toOp(op: unknown): Op {
  if (op instanceof Op) return op;
  if (typeof op === 'function') {
    let wrapped = plainFunctionOps.get(op as ReduceFunction);
    if (!wrapped) plainFunctionOps.set(op as ReduceFunction, (wrapped = Op.create(op as ReduceFunction, false)));
    return wrapped;
  }
  throw tsmpiError('TSMPI_ERR_OP', `expected an Op or a function (a, b) => c, got ${describe(op)}`);
}

/** Elements one operand item spans in a typed buffer: 2 for MAXLOC/MINLOC's [value, index] pairs. */
export function opUnit(op: Op): 1 | 2 {
  return op.builtin === 'MAXLOC' || op.builtin === 'MINLOC' ? 2 : 1;
}

function callUserFn(op: Op, a: unknown, b: unknown): unknown {
  try {
    return op.userFn!(a, b);
  } catch (err) {
    throw tsmpiError('TSMPI_ERR_OP', `user op ${op.name} threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Typed arrays

/** Per element kind, what the kernel templates need to know. */
interface KindTraits {
  readonly big: boolean;
  readonly float: boolean;
  /** 32-bit integer kinds multiply with Math.imul: a double product could exceed 2^53 and lose the low bits. */
  readonly int32: boolean;
  readonly zero: string;
  readonly one: string;
}

function traitsOf(dtype: number): KindTraits {
  const big = isBigIntDtype(dtype);
  const ctor = DTYPE_CONSTRUCTORS[dtype];
  return {
    big,
    float: !isIntegerDtype(dtype),
    int32: ctor === Int32Array || ctor === Uint32Array,
    zero: big ? '0n' : '0',
    one: big ? '1n' : '1',
  };
}

/** Element-wise ops: the expression for out[i] given x = a[i], y = b[i]; undefined if the kind is not allowed. */
const ELEMENTWISE: Record<Exclude<BuiltinOpName, 'MAXLOC' | 'MINLOC'>, (k: KindTraits) => string | undefined> = {
  SUM: () => 'x + y',
  PROD: (k) => (k.int32 ? 'Math.imul(x, y)' : 'x * y'),
  // Math.max/min propagate NaN and order ±0 whichever side they are on (BigInt has neither).
  MAX: (k) => (k.big ? 'x > y ? x : y' : 'Math.max(x, y)'),
  MIN: (k) => (k.big ? 'x < y ? x : y' : 'Math.min(x, y)'),
  // Logical ops treat non-zero (NaN included, as in C) as true and produce 0/1.
  LAND: (k) => `x !== ${k.zero} && y !== ${k.zero} ? ${k.one} : ${k.zero}`,
  LOR: (k) => `x !== ${k.zero} || y !== ${k.zero} ? ${k.one} : ${k.zero}`,
  LXOR: (k) => `(x !== ${k.zero}) !== (y !== ${k.zero}) ? ${k.one} : ${k.zero}`,
  BAND: (k) => (k.float ? undefined : 'x & y'),
  BOR: (k) => (k.float ? undefined : 'x | y'),
  BXOR: (k) => (k.float ? undefined : 'x ^ y'),
  REPLACE: () => 'y',
  NO_OP: () => 'x',
};

function kernelSource(op: BuiltinOpName, dtype: number): string | undefined {
  const name = `${op}_${dtypeName(dtype)}`;
  if (op === 'MAXLOC' || op === 'MINLOC') {
    // Interleaved [value, index] pairs; ties keep the lower index. Locals first: out may alias a or b.
    const cmp = op === 'MAXLOC' ? '>' : '<';
    return `return function ${name}(out, a, b) {
      for (let i = 0, n = out.length; i < n; i += 2) {
        const xv = a[i], xi = a[i + 1], yv = b[i], yi = b[i + 1];
        if (xv ${cmp} yv || (xv === yv && xi <= yi)) { out[i] = xv; out[i + 1] = xi; }
        else { out[i] = yv; out[i + 1] = yi; }
      }
    };`;
  }
  const expr = ELEMENTWISE[op](traitsOf(dtype));
  if (expr === undefined) return undefined;
  const element = (at: string): string => `{ const x = a[${at}], y = b[${at}]; out[${at}] = ${expr}; }`;
  const unrolled = Array.from({ length: KERNEL_UNROLL }, (_, j) => element(`i + ${j}`)).join(' ');
  return `return function ${name}(out, a, b) {
    const n = out.length;
    let i = 0;
    for (; i + ${KERNEL_UNROLL} <= n; i += ${KERNEL_UNROLL}) { ${unrolled} }
    for (; i < n; i++) ${element('i')}
  };`;
}

/**
 * Elements per iteration of an elementwise kernel. V8 neither unrolls nor vectorises these loops, so
 * the per-iteration overhead (bound checks, branch) dominates; measured on 0.5 Mi doubles (SUM), ms
 * per call: 1× 0.97, 2× 0.77, 4× 0.56, 8× 0.44, 16× 0.36. Int32 SUM: 1× 1.03, 4× 0.57.
 */
const KERNEL_UNROLL = 16;

/** Kernels made so far, by op and element kind (looked up at every typed reduction: no string keys). */
const kernelCache = new Map<BuiltinOpName, (TypedKernel | undefined)[]>();

function builtinKernel(op: BuiltinOpName, dtype: number): TypedKernel {
  let byKind = kernelCache.get(op);
  if (!byKind) kernelCache.set(op, (byKind = []));
  let kernel = byKind[dtype];
  if (!kernel) {
    const source = kernelSource(op, dtype);
    if (source === undefined) {
      throw tsmpiError('TSMPI_ERR_OP', `${op} is defined on integer element types only, not ${dtypeName(dtype)}`);
    }
    kernel = new Function(source)() as TypedKernel;
    byKind[dtype] = kernel;
  }
  return kernel;
}

/**
 * The kernel combining typed arrays of element kind `dtype` with `op`; TSMPI_ERR_OP if the op is not
 * defined on that kind (bitwise ops on floating-point kinds).
 */
export function typedKernel(op: Op, dtype: number): TypedKernel {
  if (dtype <= 0) throw tsmpiError('TSMPI_ERR_TYPE', `not a typed array element kind: ${dtypeName(dtype)}`);
  if (op.builtin) return builtinKernel(op.builtin, dtype);
  return (out, a, b) => {
    const result = callUserFn(op, a, b);
    if (dtypeOf(result) !== dtype || (result as TypedArray).length !== out.length) {
      throw tsmpiError(
        'TSMPI_ERR_OP',
        `user op ${op.name} must return a ${dtypeName(dtype)} of length ${out.length}, got ${describe(result)}`,
      );
    }
    if (result !== out) out.set(result as never);
  };
}

// ---------------------------------------------------------------------------------------------
// Objects

type Scalar2<T> = (a: T, b: T) => T;

/** Integer bitwise ops on JS numbers: int32 fast path, exact BigInt path for larger integers. */
function numberBitwise(int32: Scalar2<number>, wide: Scalar2<bigint>): Scalar2<number> {
  return (a, b) => {
    if ((a | 0) === a && (b | 0) === b) return int32(a, b);
    return Number(wide(BigInt(a), BigInt(b)));
  };
}

const truthNumber = (v: boolean): number => (v ? 1 : 0);
const truthBigint = (v: boolean): bigint => (v ? 1n : 0n);

const NUMBER_OPS: Partial<Record<BuiltinOpName, Scalar2<number>>> = {
  SUM: (a, b) => a + b,
  PROD: (a, b) => a * b,
  MAX: Math.max,
  MIN: Math.min,
  LAND: (a, b) => truthNumber(a !== 0 && b !== 0),
  LOR: (a, b) => truthNumber(a !== 0 || b !== 0),
  LXOR: (a, b) => truthNumber(a !== 0 !== (b !== 0)),
  BAND: numberBitwise((a, b) => a & b, (a, b) => a & b),
  BOR: numberBitwise((a, b) => a | b, (a, b) => a | b),
  BXOR: numberBitwise((a, b) => a ^ b, (a, b) => a ^ b),
};

const BIGINT_OPS: Partial<Record<BuiltinOpName, Scalar2<bigint>>> = {
  SUM: (a, b) => a + b,
  PROD: (a, b) => a * b,
  MAX: (a, b) => (a > b ? a : b),
  MIN: (a, b) => (a < b ? a : b),
  LAND: (a, b) => truthBigint(a !== 0n && b !== 0n),
  LOR: (a, b) => truthBigint(a !== 0n || b !== 0n),
  LXOR: (a, b) => truthBigint(a !== 0n !== (b !== 0n)),
  BAND: (a, b) => a & b,
  BOR: (a, b) => a | b,
  BXOR: (a, b) => a ^ b,
};

const BOOLEAN_OPS: Partial<Record<BuiltinOpName, Scalar2<boolean>>> = {
  LAND: (a, b) => a && b,
  LOR: (a, b) => a || b,
  LXOR: (a, b) => a !== b,
  BAND: (a, b) => a && b,
  BOR: (a, b) => a || b,
  BXOR: (a, b) => a !== b,
};

/** SUM concatenates strings and MAX/MIN compare them, as Python's + and max/min do for mpi4py. */
const STRING_OPS: Partial<Record<BuiltinOpName, Scalar2<string>>> = {
  SUM: (a, b) => a + b,
  MAX: (a, b) => (a >= b ? a : b),
  MIN: (a, b) => (a <= b ? a : b),
};

function isLocOp(op: BuiltinOpName): op is 'MAXLOC' | 'MINLOC' {
  return op === 'MAXLOC' || op === 'MINLOC';
}

/** A MAXLOC/MINLOC operand: [value, index] with scalar value and index. */
function isLocPair(v: unknown): v is [number | bigint | string, number | bigint | string] {
  return Array.isArray(v) && v.length === 2 && isComparable(v[0]) && isComparable(v[1]);
}

function isComparable(v: unknown): boolean {
  const t = typeof v;
  return t === 'number' || t === 'bigint' || t === 'string';
}

function isBitwise(op: BuiltinOpName): boolean {
  return op === 'BAND' || op === 'BOR' || op === 'BXOR';
}

function combineValues(op: BuiltinOpName, a: unknown, b: unknown): unknown {
  if (op === 'REPLACE') return b;
  if (op === 'NO_OP') return a;
  if (isLocOp(op)) {
    if (isLocPair(a) && isLocPair(b)) {
      const [av, ai] = a;
      const [bv, bi] = b;
      const aWins = op === 'MAXLOC' ? av > bv : av < bv;
      return aWins || (av === bv && ai <= bi) ? a : b;
    }
  } else if (typeof a === typeof b) {
    switch (typeof a) {
      case 'number': {
        const f = NUMBER_OPS[op];
        if (f && (!isBitwise(op) || (Number.isInteger(a) && Number.isInteger(b)))) return f(a, b as number);
        break;
      }
      case 'bigint': {
        const f = BIGINT_OPS[op];
        if (f) return f(a, b as bigint);
        break;
      }
      case 'boolean': {
        const f = BOOLEAN_OPS[op];
        if (f) return f(a, b as boolean);
        break;
      }
      case 'string': {
        const f = STRING_OPS[op];
        if (f) return f(a, b as string);
        break;
      }
    }
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${op} needs arrays of equal length, got ${a.length} and ${b.length}`);
    }
    return a.map((x, i) => combineValues(op, x, b[i]));
  }
  const dtype = dtypeOf(a);
  if (dtype > 0 && dtype === dtypeOf(b)) {
    const x = a as TypedArray;
    const y = b as TypedArray;
    if (x.length !== y.length) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${op} needs typed arrays of equal length, got ${x.length} and ${y.length}`);
    }
    if (isLocOp(op) && x.length % 2 !== 0) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${op} needs interleaved [value, index] pairs, got an odd length ${x.length}`);
    }
    const out = new (DTYPE_CONSTRUCTORS[dtype]!)(x.length);
    builtinKernel(op, dtype)(out, x, y);
    return out;
  }
  throw tsmpiError('TSMPI_ERR_OP', `${op} cannot combine ${describe(a)} with ${describe(b)}`);
}

/**
 * Checks at the call, before anything is sent, that `op` can combine values shaped like `value` (so a
 * reduction of e.g. BAND over floats fails on every rank at once, not midway on one rank). A walk over
 * the value's structure; nothing for user ops, REPLACE and NO_OP, which take anything.
 */
export function checkObjectOperand(op: Op, value: unknown): void {
  if (op.builtin && op.builtin !== 'REPLACE' && op.builtin !== 'NO_OP') checkOperand(op.builtin, value);
}

function checkOperand(op: BuiltinOpName, value: unknown): void {
  if (isLocOp(op) && isLocPair(value)) return;
  const table =
    typeof value === 'number' ? NUMBER_OPS
    : typeof value === 'bigint' ? BIGINT_OPS
    : typeof value === 'boolean' ? BOOLEAN_OPS
    : typeof value === 'string' ? STRING_OPS
    : undefined;
  if (table && !isLocOp(op)) {
    if (table[op] && !(typeof value === 'number' && isBitwise(op) && !Number.isInteger(value))) return;
  } else if (Array.isArray(value)) {
    for (const item of value) checkOperand(op, item);
    return;
  } else {
    const dtype = dtypeOf(value);
    if (dtype > 0) {
      builtinKernel(op, dtype); // throws for bitwise ops on floating-point kinds
      if (isLocOp(op) && (value as TypedArray).length % 2 !== 0) {
        throw tsmpiError('TSMPI_ERR_COUNT', `${op} needs interleaved [value, index] pairs, got an odd length`);
      }
      return;
    }
  }
  throw tsmpiError('TSMPI_ERR_OP', `${op} is not defined on ${describe(value)}`);
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const dtype = dtypeOf(value);
  if (dtype > 0) return `a ${dtypeName(dtype)} of length ${(value as TypedArray).length}`;
  if (typeof value === 'number' && !Number.isInteger(value)) return `the non-integer ${value}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'null prototype'})`;
  return `a ${typeof value}`;
}
