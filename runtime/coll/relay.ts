// Point-to-point steps every algorithm uses, and the failure relay that keeps a collective from
// hanging when only some ranks fail.
//
// Why a relay: an error only one rank can see (a bad list at scatter's root, a buffer of the wrong
// size on one rank, an op that cannot combine what arrived) would otherwise leave every rank that
// waits for that rank's next message waiting forever. So the rank where a collective call fails
// first sends an error marker to every other rank of the communicator (p − 1 small messages, on the
// failure path only), and the engine fails every receive and rendezvous send of that call (its
// context and tag), whichever peer it waits for. Ranks that fail because a marker reached them do
// not send again. Telling everyone, rather than only the algorithm's out-peers, also covers ranks
// that chose another algorithm because their own (mismatched) buffer size differed.
import { isRelayed, isTsmpiError, tsmpiError, type TsmpiError, type TsmpiErrorCode } from '../errors.js';
import { dtypeName, dtypeOf, type TypedArray } from '../wire/dtype.js';
import type { CollChannel } from './channel.js';

/**
 * Runs one rank's part of an algorithm. If it fails (or `failure` is already known, e.g. a bad
 * argument found at the call), sends the error to `outPeers` and rejects with it.
 */
export function relayFailures<T>(
  ch: CollChannel,
  tag: number,
  outPeers: Iterable<number>,
  failure: TsmpiError | undefined,
  body: () => Promise<T>,
): Promise<T> {
  void outPeers;
  if (failure) return relayed(ch, tag, failure);
  let running: Promise<T>;
  try {
    running = body();
  } catch (err) {
    return relayed(ch, tag, err);
  }
  // Not an async function: on the way that succeeds, a collective's result reaches the program one
  // promise reaction after the algorithm's (every collective goes through here).
  return running.then(undefined, (err: unknown) => relayed(ch, tag, err));
}

/** Tells every other rank of the failure (unless it came from one of them), then rejects with it. */
async function relayed(ch: CollChannel, tag: number, err: unknown): Promise<never> {
  const code: TsmpiErrorCode = isTsmpiError(err) ? err.code : 'TSMPI_ERR_INTERN';
  const message = messageOf(err, code);
  if (!isRelayed(err)) {
    const others = Array.from({ length: ch.size }, (_, r) => r).filter((r) => r !== ch.rank);
    await Promise.allSettled(others.map((peer) => ch.sendError(code, message, peer, tag)));
  }
  throw isTsmpiError(err) ? err : tsmpiError('TSMPI_ERR_INTERN', message, err);
}

/** The error's text without the `CODE: ` prefix TsmpiError adds, so relaying does not stack prefixes. */
function messageOf(err: unknown, code: TsmpiErrorCode): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.startsWith(`${code}: `) ? text.slice(code.length + 2) : text;
}

/** Typed receive that must fill `buf` exactly: a shorter message means the ranks disagree on a size. */
export function recvExact(ch: CollChannel, buf: TypedArray, source: number, tag: number): Promise<void> {
  return ch.recv(buf, source, tag).then((count) => {
    if (count !== buf.length) {
      throw tsmpiError(
        'TSMPI_ERR_COUNT',
        `expected ${buf.length} ${dtypeName(dtypeOf(buf))} elements from rank ${source}, got ${count}`,
      );
    }
  });
}

/** Sends `out` to `dest` while receiving exactly `into.length` elements from `source` (a sendrecv). */
export function exchange(
  ch: CollChannel,
  out: TypedArray,
  dest: number,
  into: TypedArray,
  source: number,
  tag: number,
): Promise<void> {
  return Promise.all([ch.send(out, dest, tag), recvExact(ch, into, source, tag)]).then(nothing);
}

function nothing(): void {}

/** One encoded object, as the single byte string a blob store or decode wants. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Sends a value through the object codec. */
export function sendObject(ch: CollChannel, value: unknown, dest: number, tag: number): Promise<void> {
  return ch.sendEncoded(ch.encode(value), dest, tag);
}

export function recvObject(ch: CollChannel, source: number, tag: number): Promise<unknown> {
  return ch.recvEncoded(source, tag).then((bytes) => ch.decode(bytes));
}

/** An independent copy made by the codec, i.e. exactly what another rank would receive. */
export function codecCopy<T>(ch: CollChannel, value: T): T {
  return ch.decode(joinParts(ch.encode(value))) as T;
}
