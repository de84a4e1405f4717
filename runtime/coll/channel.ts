// What a collective algorithm sees of a communicator: point-to-point on the communicator's hidden
// collective context, so collective traffic never matches user messages. Every collective call
// is given its own tag by the communicator (a per-communicator call counter), so calls that
// overlap in time (not awaited one by one) still pair up correctly.
import type { TsmpiErrorCode } from '../errors.js';
import type { TypedArray } from '../wire/dtype.js';

export interface CollChannel {
  readonly rank: number;
  readonly size: number;
  /** Typed send; resolves when `buf` may be reused. */
  send(buf: TypedArray, dest: number, tag: number): Promise<void>;
  /** Typed receive into `buf` (same element type as sent, at most buf.length elements); resolves with the element count. */
  recv(buf: TypedArray, source: number, tag: number): Promise<number>;
  /** Sends a message already encoded by the object codec, so a tree can forward it without re-encoding. */
  sendEncoded(parts: readonly Uint8Array[], dest: number, tag: number): Promise<void>;
  /** Receives one object-codec message of unknown size, as its encoded bytes (decode with decodeObject). */
  recvEncoded(source: number, tag: number): Promise<Uint8Array>;
  /** Object codec (msgpack with out-of-band typed arrays); encode once at a root, forward bytes, decode at leaves. */
  encode(value: unknown): readonly Uint8Array[];
  decode(bytes: Uint8Array): unknown;
  /**
   * Sends an error marker instead of data: the matching recv/recvEncoded at `dest` (same tag, from this
   * rank) rejects with a TsmpiError of this code and message. Used so that an error only one rank can see
   * (e.g. scatter's list length at the root) fails the collective on every rank instead of hanging them.
   */
  sendError(code: TsmpiErrorCode, message: string, dest: number, tag: number): Promise<void>;
  /**
   * A completion notice (completion_binomial.ts): no data, only that this rank got this far in the call,
   * with its buffer's shape when it has one ([element type code, element count]).
   */
  sendNotice(dest: number, tag: number, shape?: Float64Array): Promise<void>;
  /** Receives a notice from `source`; its shape lands in `into` when given. */
  recvNotice(source: number, tag: number, into?: Float64Array): Promise<void>;
}
