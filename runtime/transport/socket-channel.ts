// A channel over one authenticated socket (transport.ts makes them): frames go out as one buffer when
// small (header and payload copied together, one system call) and as header plus payload views when
// large (cork/uncork: writev, no copy); frames come in through the frame parser, large payloads read
// by the socket straight into their destination (connection.ts), so the kernel's copy is the only one.
import { tsmpiError, TsmpiError } from '../errors.js';
import { HEADER_BYTES, type WireLimits } from '../wire/header.js';
import { FrameParser } from '../wire/parser.js';
import type { Channel, ChannelSink, WriteDone } from './channel.js';
import type { Connection } from './connection.js';

/** Frames with at most this many payload bytes are copied into one buffer with their header. */
export const COPY_FRAME_MAX_BYTES = 16 * 1024;
/** Payloads of at least this many bytes still to come are read by the socket straight into their destination. */
const DIRECT_READ_MIN_BYTES = 16 * 1024;
/** One direct read asks for at most this much. */
const DIRECT_READ_MAX_BYTES = 1 << 30;

/** Large payloads are written as views of at most this size (one writev entry each), never copied. */
const MAX_WRITE_SLICE = 1 << 30;

/** A zero-length write: its callback runs once everything written before it has reached the kernel. */
const EMPTY_WRITE = Buffer.alloc(0);

export class SocketChannel implements Channel {
  readonly #conn: Connection;

  constructor(conn: Connection, peer: number, sink: ChannelSink, limits: WireLimits) {
    this.#conn = conn;
    const socket = conn.socket;
    const parser = new FrameParser(sink, limits);
    let direct: Uint8Array | undefined;
    conn.setReader({
      directTarget: () => (direct = parser.directTarget(DIRECT_READ_MIN_BYTES, DIRECT_READ_MAX_BYTES)),
      onBytes: (buf, n) => {
        sink.onBytes(n);
        try {
          if (buf === direct) parser.pushedDirect(n);
          else parser.push(buf, n);
        } catch (e) {
          socket.destroy();
          sink.onClosed(e instanceof TsmpiError ? e : tsmpiError('TSMPI_ERR_PROTOCOL', `bad data from rank ${peer}: ${(e as Error).message}`, e));
        }
      },
    });
    socket.on('error', () => {});
    socket.on('close', () => sink.onClosed());
  }

  write(head: Uint8Array, payload: readonly Uint8Array[], done: WriteDone | undefined): boolean {
    const socket = this.#conn.socket;
    let length = 0;
    for (const p of payload) length += p.length;
    if (length <= COPY_FRAME_MAX_BYTES) {
      const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
      frame.set(head, 0);
      let at = HEADER_BYTES;
      for (const p of payload) { frame.set(p, at); at += p.length; }
      const backlog = socket.writableLength > 0;
      socket.write(frame);
      if (!backlog && socket.writableLength === 0) return true;
      if (done) socket.write(EMPTY_WRITE, done);
      return false;
    }
    // The header goes out as its own small buffer: `head` is the caller's to reuse.
    socket.cork();
    socket.write(Buffer.from(head));
    let last: Uint8Array | undefined;
    for (const part of payload) {
      for (let off = 0; off < part.length; off += MAX_WRITE_SLICE) {
        if (last) socket.write(last);
        last = part.subarray(off, Math.min(part.length, off + MAX_WRITE_SLICE));
      }
    }
    socket.write(last!, done);
    socket.uncork();
    return false;
  }

  close(): void {
    this.#conn.socket.destroy();
  }
}
