// Scratch buffers of the collective algorithms, kept for the next call instead of allocated per call.
// A fresh typed array is zero-filled memory the kernel faults in page by page on first use: on this
// 2-core machine a 4 MiB Float64Array cost ~0.2 ms (with the ranks' malloc settings) to ~1.6 ms (without)
// per Allreduce of 1 Mi doubles, against ~0.01 ms to take one back from here. Each caller gets a buffer
// of its own until it gives it back, so collectives that overlap in time never share one.
import { DTYPE_CONSTRUCTORS, dtypeOf, type TypedArray } from '../wire/dtype.js';

/** Buffers larger than this are not kept (a one-off huge collective should not pin its memory). */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;
/** At most this many idle buffers per element type. */
const MAX_KEPT_PER_TYPE = 4;

const idle = new Map<number, TypedArray[]>();

/** A buffer of `length` elements of `like`'s type (contents undefined) until giveScratch. */
export function takeScratch(like: TypedArray, length: number): TypedArray {
  const dtype = dtypeOf(like);
  const list = idle.get(dtype);
  if (list) {
    for (let i = list.length - 1; i >= 0; i--) {
      const buf = list[i]!;
      if (buf.length >= length) {
        list.splice(i, 1);
        return buf.length === length ? buf : buf.subarray(0, length);
      }
    }
  }
  return new (DTYPE_CONSTRUCTORS[dtype]!)(length);
}

/** Returns a buffer from takeScratch (its whole allocation is kept for reuse). */
export function giveScratch(buf: TypedArray | undefined): void {
  if (!buf) return;
  const whole = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength
    ? buf
    : new (DTYPE_CONSTRUCTORS[dtypeOf(buf)]!)(buf.buffer as ArrayBuffer, 0, buf.buffer.byteLength / buf.BYTES_PER_ELEMENT);
  if (whole.byteLength > MAX_KEPT_BYTES) return;
  const dtype = dtypeOf(whole);
  let list = idle.get(dtype);
  if (!list) idle.set(dtype, (list = []));
  if (list.length >= MAX_KEPT_PER_TYPE) list.shift();
  list.push(whole);
}
