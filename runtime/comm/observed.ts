// Spans of a communicator's calls, for --profile and --trace (runtime/observe/). Only made when the
// rank records (engine.recorder): a recorded communicator gets, as own properties, a wrapper of each
// point-to-point and probe method of the table below; collectives are observed where Comm runs them
// (its one #collective), and their messages through an ObservedCallChannel. A communicator of a rank
// that records nothing has no wrapper and pays nothing.
//
// A span runs from the call to its completion: to the settling of the returned promise, or of the
// returned Request (isend, Irecv, …). While a wrapper runs the method's own code, recorder.current names
// its span, so the messages the engine sends and the receives it posts belong to it; a call made by
// another call (send → isend, Sendrecv → Irecv + Send) is part of that call, not a span of its own.
import { ANY_SOURCE, ANY_TAG, PROC_NULL } from '../constants.js';
import { P2P_CALLS, callId } from '../observe/calls.js';
import type { Recorder } from '../observe/recorder.js';
import { captureSite, sampleSite } from '../observe/sites.js';
import { Request, madeRequest, onSettled, waitPromise, watchRequests } from '../p2p/request.js';
import type { CallLabel } from '../wire/call-label.js';
import type { TypedArray } from '../wire/dtype.js';
import { CallChannel, type CommWire } from './call-channel.js';

type P2pCall = (typeof P2P_CALLS)[number];

/** Per call: the argument positions of its peer and tag, and whether it receives (defaults differ). */
const ARGUMENTS: Record<P2pCall, readonly [peer: number, tag: number, receives: boolean]> = {
  send: [1, 2, false], ssend: [1, 2, false], isend: [1, 2, false], issend: [1, 2, false],
  recv: [0, 1, true], irecv: [0, 1, true], sendrecv: [1, 2, false],
  Send: [1, 2, false], Ssend: [1, 2, false], Isend: [1, 2, false], Issend: [1, 2, false],
  Recv: [1, 2, true], Irecv: [1, 2, true], Sendrecv: [1, 2, false], Sendrecv_replace: [1, 2, false],
  probe: [0, 1, true], iprobe: [0, 1, true],
};

function intArgument(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 ? value : fallback;
}

/** Observes one communicator's calls for its rank's recorder. */
export class CommObserver {
  readonly #rec: Recorder;
  readonly #context: number;
  readonly #comm: number;

  constructor(rec: Recorder, context: number, name: string) {
    this.#rec = rec;
    this.#context = context;
    this.#comm = rec.intern(name);
  }

  /** The site of this call of `call`, when it is one of the sampled ones. */
  #site(call: number): string | undefined {
    if (!this.#rec.settings.profile) return undefined;
    return sampleSite(this.#rec.callCounts[call]!++) ? captureSite() : undefined;
  }

  /** Installs the point-to-point wrappers on `comm` (own properties that shadow its class's methods). */
  instrument(comm: object, methods: Record<P2pCall, (...args: unknown[]) => unknown>): void {
    const rec = this.#rec, context = this.#context, commId = this.#comm;
    for (const name of P2P_CALLS) {
      const original = methods[name];
      const call = callId(name);
      const [peerAt, tagAt, receives] = ARGUMENTS[name];
      const observer = this;
      // Six parameters rather than `...args`, which would allocate an array per call: no method of
      // the table takes more, and an explicit undefined takes a parameter's default as a missing one does.
      const wrapper = function (this: object, a0?: unknown, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown): unknown {
        if (rec.inCall) return original.call(this, a0, a1, a2, a3, a4, a5);
        const t0 = performance.now();
        const peer = intArgument(peerAt === 0 ? a0 : a1, receives ? ANY_SOURCE : PROC_NULL);
        const tag = intArgument(tagAt === 1 ? a1 : a2, receives ? ANY_TAG : 0);
        const site = observer.#site(call);
        const span = rec.beginSpan(call, t0, peer, tag, context, -1, commId);
        let result: unknown;
        rec.inCall = true;
        rec.current = span;
        rec.currentCall = call;
        rec.callStart = t0;
        let made: Request<unknown> | undefined;
        watchRequests();
        try {
          result = original.call(this, a0, a1, a2, a3, a4, a5);
        } catch (e) {
          rec.endSpan(span, call, t0, true, site);
          throw e;
        } finally {
          made = madeRequest();
          rec.inCall = false;
          rec.current = 0;
          rec.currentCall = 0;
        }
        const end = (failed: boolean) => rec.endSpan(span, call, t0, failed, site);
        if (result instanceof Request) {
          result[onSettled](end);
          return result;
        }
        // A promise that is a request's wait() (Send, Recv, send, recv, …): the span ends as the engine
        // completes that request, with no promise reaction of its own.
        if (made !== undefined && made[waitPromise] === result) {
          made[onSettled](end);
          return result;
        }
        return settled(result as Promise<unknown>, rec, span, call, t0, site);
      };
      Object.defineProperty(comm, name, { value: wrapper, writable: true, configurable: true, enumerable: false });
    }
  }

  /**
   * Runs one collective call (`tag` on the collective `context`) as a span: its messages and receives
   * belong to it through the channel.
   */
  collective<R>(name: string, root: number, tag: number, wire: CommWire, label: CallLabel, run: (ch: CallChannel, tag: number) => Promise<R>): Promise<R> {
    const rec = this.#rec, call = callId(name);
    const t0 = performance.now();
    const site = this.#site(call);
    const span = rec.beginSpan(call, t0, root, tag, wire.context, root, this.#comm);
    let result: Promise<R>;
    try {
      result = run(new ObservedCallChannel(wire, label, rec, span, call), tag);
    } catch (e) {
      rec.endSpan(span, call, t0, true, site);
      throw e;
    }
    result.then(() => rec.endSpan(span, call, t0, false, site), () => rec.endSpan(span, call, t0, true, site));
    return result;
  }
}

/**
 * Ends the call's span when `p` settles, and returns `p` itself: the program awaits the very promise
 * it would without recording (the same stack traces, and no promise or microtask turns added before
 * its await resumes; the span's reaction is registered first, so it runs just before).
 */
function settled<T>(p: Promise<T>, rec: Recorder, span: number, call: number, t0: number, site: string | undefined): Promise<T> {
  p.then(() => rec.endSpan(span, call, t0, false, site), () => rec.endSpan(span, call, t0, true, site));
  return p;
}

/** A collective call's channel whose messages and receives belong to the call's span. */
class ObservedCallChannel extends CallChannel {
  readonly #rec: Recorder;
  readonly #span: number;
  readonly #call: number;

  constructor(wire: CommWire, label: CallLabel, rec: Recorder, span: number, call: number) {
    super(wire, label);
    this.#rec = rec;
    this.#span = span;
    this.#call = call;
  }

  #within<T>(f: () => T): T {
    const rec = this.#rec, span = rec.current, call = rec.currentCall;
    rec.current = this.#span;
    rec.currentCall = this.#call;
    try {
      return f();
    } finally {
      rec.current = span;
      rec.currentCall = call;
    }
  }

  override send(buf: TypedArray, dest: number, tag: number): Promise<void> {
    return this.#within(() => super.send(buf, dest, tag));
  }

  override recv(buf: TypedArray, source: number, tag: number): Promise<number> {
    return this.#within(() => super.recv(buf, source, tag));
  }

  override sendEncoded(parts: readonly Uint8Array[], dest: number, tag: number): Promise<void> {
    return this.#within(() => super.sendEncoded(parts, dest, tag));
  }

  override recvEncoded(source: number, tag: number): Promise<Uint8Array> {
    return this.#within(() => super.recvEncoded(source, tag));
  }
}
