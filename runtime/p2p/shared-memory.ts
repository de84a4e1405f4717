// allocShared: typed arrays in memory that rank threads of one process can share (MPI_Alloc_mem's
// counterpart). With ranks as threads (tsmpirun --ranks threads), a large message between two ranks of
// one host is copied once, straight from the sender's buffer or straight into the receiver's, when
// either lives in such memory; otherwise it goes through the rings between them, copied twice. With
// ranks as processes such an array behaves exactly like any other. The memory is freed when nothing
// refers to the array any more, like any typed array's.
import { tsmpiError } from '../errors.js';
import { DTYPE_CONSTRUCTORS, type TypedArrayConstructor } from '../wire/dtype.js';

/**
 * A zero-filled typed array of `length` elements in shared memory (a `SharedArrayBuffer`).
 *
 * With ranks as threads (`tsmpirun --ranks threads`), a large message between two ranks of one
 * process is copied once when either buffer lives in such memory, instead of twice through the rings
 * between them. With ranks as processes it behaves like any other typed array. It is freed, like any
 * typed array, once nothing refers to it.
 *
 * @param kind - the typed array constructor: `Float64Array`, `Int32Array`, …
 * @param length - the number of elements (a non-negative integer).
 * @returns a new `kind` of `length` zeros.
 * @throws {@link TsmpiError} `TSMPI_ERR_TYPE` when `kind` is not a typed array constructor;
 *   `TSMPI_ERR_COUNT` when `length` is not a non-negative safe integer.
 *
 * @example
 * ```ts
 * const field = allocShared(Float64Array, 1 << 21); // 16 MiB
 * await comm.Send(field, 1);                          // copied once to a rank thread of this process
 * ```
 */
export function allocShared<C extends TypedArrayConstructor>(kind: C, length: number): InstanceType<C> {
  if (!DTYPE_CONSTRUCTORS.includes(kind)) {
    throw tsmpiError('TSMPI_ERR_TYPE', `allocShared needs a typed array constructor (Float64Array, Int32Array, …), got ${String((kind as { name?: string } | undefined)?.name ?? kind)}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) throw tsmpiError('TSMPI_ERR_COUNT', `allocShared: ${String(length)} is not a number of elements`);
  const memory = new SharedArrayBuffer(length * kind.BYTES_PER_ELEMENT) as unknown as ArrayBuffer;
  return new kind(memory) as InstanceType<C>;
}
