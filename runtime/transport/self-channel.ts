// A rank's messages to itself. A write copies the frame (so a send to oneself completes at once, as an
// eager send would, whatever its size: a program that sends to itself before it receives must not
// deadlock) and hands it to the engine's sink once the current delivery, if any, is over — a frame
// written while one is being delivered (a CTS answering an RTS) waits its turn, as on a socket.
import { readHeader, HEADER_BYTES } from '../wire/header.js';
import type { Channel, ChannelSink, WriteDone } from './channel.js';

export class SelfChannel implements Channel {
  readonly #sink: ChannelSink;
  readonly #queue: Uint8Array[] = [];
  #delivering = false;
  #closed = false;

  constructor(sink: ChannelSink) {
    this.#sink = sink;
  }

  write(head: Uint8Array, payload: readonly Uint8Array[], _done: WriteDone | undefined): boolean {
    if (this.#closed) return true;
    let length = 0;
    for (const p of payload) length += p.length;
    // Owned memory of the payload's exact size, 8-aligned, so the sink may keep it (typed views).
    const frame = new Uint8Array(HEADER_BYTES + length);
    frame.set(head, 0);
    let at = HEADER_BYTES;
    for (const p of payload) { frame.set(p, at); at += p.length; }
    this.#queue.push(frame);
    if (!this.#delivering) this.#deliver();
    return true;
  }

  #deliver(): void {
    this.#delivering = true;
    try {
      for (let frame = this.#queue.shift(); frame; frame = this.#queue.shift()) {
        const h = readHeader(frame, 0);
        const payload = new Uint8Array(frame.buffer, frame.byteOffset + HEADER_BYTES, frame.length - HEADER_BYTES);
        const dest = this.#sink.onHeader(h);
        if (dest && dest !== payload) {
          dest.set(payload);
          this.#sink.onFrame(h, dest, false);
        } else {
          this.#sink.onFrame(h, payload, true);
        }
      }
    } finally {
      this.#delivering = false;
    }
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
  }
}
