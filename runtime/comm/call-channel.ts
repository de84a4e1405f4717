// What one collective call of a communicator sends and receives on: point-to-point on the
// communicator's hidden collective context (so collective traffic never matches user messages),
// every message labelled with the call (wire/call-label.ts), so that a rank that called another
// collective as the same call finds out at the first message it receives. One is made per call.
import type { CollChannel } from '../coll/channel.js';
import type { TsmpiErrorCode } from '../errors.js';
import { decodeObject, encodeObject } from '../p2p/codec.js';
import type { Engine, RankMap } from '../p2p/engine.js';
import type { CallLabel } from '../wire/call-label.js';
import { dtypeOf, type TypedArray } from '../wire/dtype.js';

/** A notice without a shape: an empty message. */
const NO_DATA = new Uint8Array(0);

function nothing(): void {}

/** The part of a communicator its collective calls need, shared by all of them. */
export interface CommWire {
  readonly engine: Engine;
  /** World rank of each member, in communicator rank order. */
  readonly members: Int32Array;
  /** World rank → communicator rank; null when they are the same. */
  readonly ranks: RankMap;
  /** The collective context. */
  readonly context: number;
  readonly rank: number;
  readonly size: number;
}

export class CallChannel implements CollChannel {
  readonly rank: number;
  readonly size: number;

  constructor(private readonly wire: CommWire, private readonly call: CallLabel) {
    this.rank = wire.rank;
    this.size = wire.size;
  }

  send(buf: TypedArray, dest: number, tag: number): Promise<void> {
    const w = this.wire;
    return w.engine.sendTyped(buf, w.members[dest]!, tag, w.context, dtypeOf(buf), false, this.call).wait();
  }

  recv(buf: TypedArray, source: number, tag: number): Promise<number> {
    const w = this.wire;
    return w.engine.recvTyped(buf, w.members[source]!, tag, w.context, dtypeOf(buf), w.ranks, this.call).wait().then((s) => s.count);
  }

  sendEncoded(parts: readonly Uint8Array[], dest: number, tag: number): Promise<void> {
    const w = this.wire;
    return w.engine.sendEncoded(parts, w.members[dest]!, tag, w.context, this.call).wait();
  }

  recvEncoded(source: number, tag: number): Promise<Uint8Array> {
    const w = this.wire;
    return w.engine.recvEncoded(w.members[source]!, tag, w.context, w.ranks, this.call).wait();
  }

  encode(value: unknown): readonly Uint8Array[] {
    return encodeObject(value).parts;
  }

  decode(bytes: Uint8Array): unknown {
    return decodeObject(bytes);
  }

  sendNotice(dest: number, tag: number, shape?: Float64Array): Promise<void> {
    return this.send(shape ?? NO_DATA, dest, tag);
  }

  recvNotice(source: number, tag: number, into?: Float64Array): Promise<void> {
    return this.recv(into ?? NO_DATA, source, tag).then(nothing);
  }

  sendError(code: TsmpiErrorCode, message: string, dest: number, tag: number): Promise<void> {
    const w = this.wire;
    return w.engine.sendError(code, message, w.members[dest]!, tag, w.context).wait();
  }
}
