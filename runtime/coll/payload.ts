// How an algorithm that moves one rank's whole contribution (bcast, reduce, allreduce, scan) sends,
// receives and combines it, for either family: typed arrays travel as they are and are combined by
// the op's kernel into buffers the algorithm owns; objects travel through the codec and are combined
// by Op.apply. One tree or butterfly then serves both families.
import { dtypeOf, DTYPE_CONSTRUCTORS, type TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';
import { typedKernel, type Op } from './ops.js';
import { codecCopy, recvExact, recvObject, sendObject } from './relay.js';

export interface Payload<V> {
  send(value: V, dest: number): Promise<void>;
  /**
   * Receives one value from `source`. Typed: into `target`, or else into a scratch buffer that the
   * next recv reuses (so fold it before receiving again). Objects: a new value; `target` is ignored.
   */
  recv(source: number, target?: V): Promise<V>;
}

export interface Reduction<V> extends Payload<V> {
  /** acc ∘ incoming in rank order (incoming comes from lower ranks iff `incomingIsLower`); may reuse acc's storage. */
  fold(acc: V, incoming: V, incomingIsLower: boolean): V;
  /** `value` in storage the algorithm may fold into (typed: into `target` when given), never the caller's own. */
  copy(value: V, target?: V): V;
  /** True if a fold may alter its `incoming` operand (a user op may modify either argument in place). */
  readonly foldMayAlterIncoming: boolean;
}

/** Typed values of `length` elements of one kind; `target` of a receive defaults to `defaultTarget` or a scratch buffer. */
export function typedPayload(ch: CollChannel, tag: number, like: TypedArray, defaultTarget?: TypedArray): Payload<TypedArray> {
  let scratch = defaultTarget;
  return {
    send: (value, dest) => ch.send(value, dest, tag),
    recv: (source, target) => {
      const into = target ?? (scratch ??= newLike(like));
      return recvExact(ch, into, source, tag).then(() => into);
    },
  };
}

export function typedReduction(ch: CollChannel, tag: number, op: Op, like: TypedArray): Reduction<TypedArray> {
  const kernel = typedKernel(op, dtypeOf(like));
  // Fields copied one by one, not `...typedPayload(…)`: an object literal that spreads and then defines
  // methods cost ~2.2 µs per call in V8 (Node 20) against ~0.09 µs, a quarter of an 8-byte Allreduce.
  const payload = typedPayload(ch, tag, like);
  return {
    send: payload.send,
    recv: payload.recv,
    fold(acc, incoming, incomingIsLower) {
      if (incomingIsLower) kernel(acc, incoming, acc);
      else kernel(acc, acc, incoming);
      return acc;
    },
    copy(value, target) {
      if (target === value) return value;
      const out = target ?? newLike(value);
      out.set(value as never);
      return out;
    },
    foldMayAlterIncoming: op.userFn !== undefined,
  };
}

/** Objects whose encoded bytes are forwarded untouched (bcast: encode once at the root, decode at each rank). */
export function encodedPayload(ch: CollChannel, tag: number): Payload<readonly Uint8Array[]> {
  return {
    send: (parts, dest) => ch.sendEncoded(parts, dest, tag),
    recv: (source) => ch.recvEncoded(source, tag).then((bytes) => [bytes]),
  };
}

export function objectReduction(ch: CollChannel, tag: number, op: Op): Reduction<unknown> {
  // Predefined ops build new values and never alter their operands; a user op may (e.g. merging
  // into a Map it was given), so with one every value it gets is a private codec copy.
  const userOp = op.userFn !== undefined;
  return {
    send: (value, dest) => sendObject(ch, value, dest, tag),
    recv: (source) => recvObject(ch, source, tag),
    fold: (acc, incoming, incomingIsLower) => (incomingIsLower ? op.apply(incoming, acc) : op.apply(acc, incoming)),
    copy: (value) => (userOp ? codecCopy(ch, value) : value),
    foldMayAlterIncoming: userOp,
  };
}

export function newLike(buf: TypedArray, length = buf.length): TypedArray {
  return new (DTYPE_CONSTRUCTORS[dtypeOf(buf)]!)(length);
}
