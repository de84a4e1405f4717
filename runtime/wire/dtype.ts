// Element types of typed messages: one code per TypedArray kind, carried in every frame header
// so that a receive into a buffer of another kind fails with TSMPI_ERR_TYPE.

/**
 * What the capitalized (typed-array) calls move: any typed array, or a `subarray` view of one (a Node
 * `Buffer` counts as a `Uint8Array`). The elements are sent as they are, with no serialization, and
 * received in place; sender and receiver must use the same element type (`TSMPI_ERR_TYPE` otherwise).
 */
export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

/**
 * The constructor of a {@link TypedArray} kind (`Float64Array`, `Int32Array`, …).
 * @inline
 */
export type TypedArrayConstructor =
  | Int8ArrayConstructor | Uint8ArrayConstructor | Uint8ClampedArrayConstructor | Int16ArrayConstructor
  | Uint16ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor
  | Float64ArrayConstructor | BigInt64ArrayConstructor | BigUint64ArrayConstructor;

/** Code 0 is reserved for object (msgpack) payloads. */
export const DTYPE_OBJECT = 0;

export const DTYPE_CONSTRUCTORS: readonly (TypedArrayConstructor | undefined)[] = [
  undefined, // 0: object
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
];

const CODE_BY_NAME = new Map<string, number>(
  DTYPE_CONSTRUCTORS.map((c, i) => [c?.name ?? 'object', i]),
);

/** Type code of a typed array; Node's Buffer counts as Uint8Array. Returns -1 for anything else. */
export function dtypeOf(value: unknown): number {
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return -1;
  // The toStringTag getter reports the intrinsic kind, so a Buffer counts as a Uint8Array.
  return CODE_BY_NAME.get((value as TypedArray)[Symbol.toStringTag]) ?? -1;
}

export function isTypedArray(value: unknown): value is TypedArray {
  return dtypeOf(value) > 0;
}

export function dtypeName(code: number): string {
  return DTYPE_CONSTRUCTORS[code]?.name ?? (code === DTYPE_OBJECT ? 'object' : `unknown(${code})`);
}

export function isIntegerDtype(code: number): boolean {
  return code >= 1 && code <= 7 || code === 10 || code === 11;
}

export function isBigIntDtype(code: number): boolean {
  return code === 10 || code === 11;
}

/** Bytes of a typed array as a Uint8Array view (no copy). */
export function bytesOf(buf: TypedArray): Uint8Array {
  return buf instanceof Uint8Array && buf.constructor === Uint8Array
    ? buf
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
