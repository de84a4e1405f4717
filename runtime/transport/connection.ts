// One byte stream to a peer, read without Node's stream machinery: the socket reads through `onread`
// into memory the connection chooses before every read — its own staging buffer (reused, never
// allocated per read), or, when the reader asks for it, straight into the destination of a large
// payload (a posted receive buffer), so the kernel copies those bytes once and nothing else does.
// No 'data' events, no Buffer per read, no Buffer.concat.
//
// Measured (bench/, Unix socket, 2 cores): 'data' events deliver 64 KiB Buffers allocated per read;
// reading into a reused staging buffer and directly into posted buffers took 16 MiB Send/Recv from
// ~1.7 GB/s to ~4-6 GB/s, about the floor (see bench/README.md). The staging buffer is small (64 KiB)
// on purpose: the first read of a large message lands there with its header and is copied once
// more, so a smaller staging read means less of a large payload copied twice; for small messages
// 64 KiB per read system call is plenty.
import net from 'node:net';

/** Who consumes the bytes of a connection: the handshake first, then the frame parser. */
export interface ConnectionReader {
  /** `n` bytes were read into `buf[0..n)`: either the staging buffer or the last `directTarget()`. */
  onBytes(buf: Uint8Array, n: number): void;
  /** Where the next read may go directly, bypassing the staging buffer (its length bounds the read). */
  directTarget(): Uint8Array | undefined;
}

/** Bytes read per system call at most when staging (see the header). */
export const STAGING_BYTES = 64 * 1024;

const NO_READER: ConnectionReader = { onBytes() {}, directTarget: () => undefined };

export class Connection {
  readonly socket: net.Socket;
  #reader: ConnectionReader = NO_READER;
  // A plain Uint8Array, not a Buffer: the parser takes views of it per frame, and Buffer#subarray
  // goes through Buffer's species constructor (measurably slower per message).
  #staging: Uint8Array = new Uint8Array(STAGING_BYTES);

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
