// One byte stream to a peer, read without Node's stream machinery: the socket reads through `onread`
// into memory the connection chooses before every read — the staging buffer (reused, never allocated
// per read), or, when the reader asks for it, straight into the destination of a large payload (a
// posted receive buffer), so the kernel copies those bytes once and nothing else does. No 'data'
// events, no Buffer per read, no Buffer.concat.
//
// Measured (bench/, Unix socket, 2 cores): 'data' events deliver 64 KiB Buffers allocated per read;
// reading into a reused staging buffer and directly into posted buffers took 16 MiB Send/Recv from
// ~1.7 GB/s to ~4-6 GB/s, about the floor (see bench/README.md).
//
// The staging buffer must hold a whole send buffer's worth of bytes. A Unix stream socket wakes a
// blocked sender only once at most a quarter of its send buffer (net.core.wmem_default, 208 KiB here)
// is still unread. The first read of a large message goes to staging (it holds the header); if that
// read leaves more than a quarter behind, the sender sleeps through the receiver's handling of the
// header and its next read, and the two processes fall out of step. Measured, 1 MiB Send/Recv ping-pong:
// staging 64 or 128 KiB 3.3–3.6 GB/s, 192 KiB or more 5.1–5.5 GB/s (the floor: 4.3–4.8 GB/s); 16 MiB
// and TCP unchanged. The buffer is one per process: every connection's reader consumes (or copies)
// what a read left in it before the read returns, so connections can share it, and a rank with many
// peers does not pay for a staging buffer per connection.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Who consumes the bytes of a connection: the handshake first, then the frame parser. */
export interface ConnectionReader {
  /** `n` bytes were read into `buf[0..n)`: either the staging buffer or the last `directTarget()`. */
  onBytes(buf: Uint8Array, n: number): void;
  /** Where the next read may go directly, bypassing the staging buffer (its length bounds the read). */
  directTarget(): Uint8Array | undefined;
}

/**
 * Bytes read per system call at most when staging: the kernel's default socket send buffer, with room
 * to spare, and at least 256 KiB (see the header).
 */
const MIN_STAGING_BYTES = 256 * 1024;
const MAX_STAGING_BYTES = 16 * 1024 * 1024;
export const STAGING_BYTES = stagingBytes();

function stagingBytes(): number {
  let sendBuffer = 0;
  try {
    sendBuffer = Number(readFileSync('/proc/sys/net/core/wmem_default', 'utf8')) || 0;
  } catch {
    // not Linux, or no /proc: the minimum covers Linux's usual 208 KiB
  }
  const wanted = Math.min(sendBuffer * 1.25, MAX_STAGING_BYTES);
  let bytes = MIN_STAGING_BYTES;
  while (bytes < wanted) bytes *= 2;
  return bytes;
}

/** Shared by every connection of the process, allocated with the first one. */
let sharedStaging: Uint8Array | undefined;

const NO_READER: ConnectionReader = { onBytes() {}, directTarget: () => undefined };

export class Connection {
  readonly socket: net.Socket;
  #reader: ConnectionReader = NO_READER;
  // A plain Uint8Array, not a Buffer: the parser takes views of it per frame, and Buffer#subarray
  // goes through Buffer's species constructor (measurably slower per message).
  readonly #staging: Uint8Array = (sharedStaging ??= new Uint8Array(STAGING_BYTES));

  /** Makes the socket: `make` receives the `onread` option to pass to net.connect / new net.Socket. */
  constructor(make: (onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean }) => net.Socket) {
    this.socket = make({
      buffer: () => this.#reader.directTarget() ?? this.#staging,
      callback: (n, buf) => {
        this.#reader.onBytes(buf, n);
        return true;
      },
    });
  }

  /** Opens an outgoing connection. */
  static connect(target: net.NetConnectOpts): Connection {
    return new Connection((onread) => net.connect({ ...target, noDelay: true, onread } as net.NetConnectOpts));
  }

  /**
   * Adopts a socket accepted by a server created with `pauseOnConnect: true` (so it has not read a
   * byte): its handle moves into a socket that reads through `onread`. net.createServer offers no
   * `onread` for accepted sockets; this is the one place that reaches into a socket's `_handle`.
   */
  static adopt(accepted: net.Socket): Connection {
    const holder = accepted as unknown as { _handle: unknown };
    const handle = holder._handle;
    holder._handle = null;
    return new Connection((onread) => {
      const s = new net.Socket({ handle, readable: true, writable: true, onread } as unknown as net.SocketConstructorOpts);
      s.setNoDelay(true);
      return s;
    });
  }

  /** Routes every later read to `reader`. */
  setReader(reader: ConnectionReader): void {
    this.#reader = reader;
  }

  /** Hands bytes already read (`buf[0..n)`, e.g. past a handshake) to the current reader. */
  forward(buf: Uint8Array, n: number): void {
    this.#reader.onBytes(buf, n);
  }
}
