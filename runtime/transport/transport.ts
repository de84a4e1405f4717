// Byte streams to peers: one listener per rank (a Unix domain socket inside the job's private
// directory when ranks share a host, TCP otherwise), outgoing connections made on demand, and the
// handshake that proves the job secret on every connection. What flows after the handshake is the
// engine's business: the transport hands over authenticated sockets and nothing else.
import net from 'node:net';
import { tsmpiError } from '../errors.js';
import { Connection } from './connection.js';
import {
  CHALLENGE_BYTES, PROOF_BYTES, makeChallenge, makeProof, readChallenge, verifyProof,
} from './handshake.js';

/** A stranger that connects and proves nothing is dropped after this long. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export type ListenSpec = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string };

export interface ConnectionHandler {
  /**
   * An authenticated connection with `peer`. The handler must call `conn.setReader` before it returns:
   * bytes the peer sent right after the handshake are handed to that reader at once.
   */
  onConnection(peer: number, conn: Connection, outgoing: boolean): void;
  /** An outgoing connection could not be made or was refused. */
  onConnectFailed(peer: number, error: Error): void;
  /** A proof arrived while the secret was still to come (see Transport's `secretReady`); it waits for it. */
  onProofBeforeSecret?(): void;
}

/**
 * Reads exactly `count` bytes from a fresh connection, then calls `done` (with undefined on close,
 * error or timeout). Bytes read past `count` (the peer may write its first messages right behind its
 * proof) come as `rest`, a copy: the caller hands them to the connection's next reader once it has one.
 */
function readExactly(conn: Connection, count: number, done: (bytes: Buffer | undefined, rest?: Uint8Array) => void): void {
  const bytes = Buffer.allocUnsafe(count);
  let have = 0;
  let finished = false;
  const socket = conn.socket;
  const timer = setTimeout(() => finish(undefined), HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  const finish = (result: Buffer | undefined, rest?: Uint8Array) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('close', onClose);
    socket.off('error', onClose);
    done(result, rest);
  };
  const onClose = () => finish(undefined);
  socket.on('close', onClose);
  socket.on('error', onClose);
  conn.setReader({
    directTarget: () => undefined,
    onBytes: (buf, n) => {
      if (finished) return;
      const take = Math.min(n, count - have);
      bytes.set(buf.subarray(0, take), have);
      have += take;
      if (have < count) return;
      // A copy: `buf` may be the staging buffer, which the next read of any connection overwrites.
      finish(bytes, take < n ? new Uint8Array(buf.subarray(take, n)) : undefined);
    },
  });
}

export function parseAddress(address: string): net.NetConnectOpts {
  if (address.startsWith('unix:')) return { path: address.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(address);
  if (!m) throw tsmpiError('TSMPI_ERR_PROTOCOL', `malformed peer address ${JSON.stringify(address)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export class Transport {
  /** One listener per address this rank publishes (a Unix socket and a TCP port under PMI, for peers on
   *  the same host and on other hosts). */
  private readonly servers: net.Server[] = [];
  /** Connections that have not yet proved the secret (closed on shutdown). */
  private readonly handshaking = new Set<net.Socket>();

  /** Settled once `secret` holds the job's secret; until then proofs wait (see the constructor). */
  private secretKnown: Promise<void> | undefined;

  /**
   * `secretReady`, when given, settles once `secret` (this very buffer, filled in later) holds the job's
   * secret. A rank of a PMI job learns the secret from the key-value store after its peers learned its
   * address: a peer that got further may connect first, and its proof, checked against the placeholder,
   * would fail and its first messages be lost with the connection. Such a proof waits for the secret.
   */
  constructor(
    private readonly rank: number,
    private readonly size: number,
    private readonly secret: Uint8Array,
    private readonly handler: ConnectionHandler,
    secretReady?: Promise<void>,
  ) {
    this.secretKnown = secretReady?.then(() => { this.secretKnown = undefined; });
  }

  /** Starts a listener (may be called once per kind); resolves with the address peers connect to. */
  listen(spec: ListenSpec): Promise<string> {
    // pauseOnConnect: an accepted socket must not read before Connection.adopt gives it `onread`.
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const onListening = () => {
        server.off('error', reject);
        server.unref();
        if (spec.kind === 'unix') return resolve(`unix:${spec.path}`);
        const a = server.address() as net.AddressInfo;
        resolve(`tcp:${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
      };
      if (spec.kind === 'unix') server.listen(spec.path, onListening);
      else server.listen(0, spec.host, onListening);
    });
  }

  private accept(accepted: net.Socket): void {
    const conn = Connection.adopt(accepted);
    const socket = conn.socket;
    socket.unref();
    this.handshaking.add(socket);
    const { message, nonce } = makeChallenge();
    const onError = () => socket.destroy();
    socket.on('error', onError);
    socket.write(message);
    readExactly(conn, PROOF_BYTES, (proof, rest) => {
      let held = false;
      const verify = () => {
        this.handshaking.delete(socket);
        const peer = proof && !socket.destroyed ? verifyProof(this.secret, nonce, this.rank, this.size, proof) : undefined;
        if (peer === undefined) {
          socket.destroy();
          return;
        }
        socket.off('error', onError);
        this.handler.onConnection(peer, conn, false);
        if (rest) conn.forward(rest, rest.length);
        if (held) socket.resume();
      };
      if (!proof || !this.secretKnown) return verify();
      // No reads until the proof is judged: nothing may reach a reader before the engine's.
      held = true;
      socket.pause();
      this.handler.onProofBeforeSecret?.();
      void this.secretKnown.then(verify);
    });
  }

  /** Opens an authenticated connection to `peer`; the outcome reaches the handler. */
  connect(peer: number, address: string): void {
    let target: net.NetConnectOpts;
    try {
      target = parseAddress(address);
    } catch (e) {
      queueMicrotask(() => this.handler.onConnectFailed(peer, e as Error));
      return;
    }
    const conn = Connection.connect(target);
    const socket = conn.socket;
    socket.unref();
    this.handshaking.add(socket);
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      this.handshaking.delete(socket);
      socket.destroy();
      this.handler.onConnectFailed(peer, error);
    };
    socket.once('error', fail);
    readExactly(conn, CHALLENGE_BYTES, (challenge, rest) => {
      const nonce = challenge && readChallenge(challenge);
      if (!nonce) {
        fail(tsmpiError('TSMPI_ERR_AUTH', `rank ${peer} did not answer the tsmpi handshake at ${address}`));
        return;
      }
      this.handshaking.delete(socket);
      socket.off('error', fail);
      socket.write(makeProof(this.secret, nonce, this.rank, peer));
      this.handler.onConnection(peer, conn, true);
      if (rest) conn.forward(rest, rest.length);
    });
  }

  close(): void {
    for (const server of this.servers) server.close();
    for (const s of this.handshaking) s.destroy();
    this.handshaking.clear();
  }
}
