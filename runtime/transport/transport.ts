// Byte streams to peers: one listener per rank (a Unix domain socket inside the job's private
// directory when ranks share a host, TCP otherwise), outgoing connections made on demand, and the
// handshake that proves the job secret on every connection. What flows after the handshake is the
// engine's business: the transport hands over authenticated sockets and nothing else.
import net from 'node:net';
import { tsmpiError } from '../errors.js';
import {
  CHALLENGE_BYTES, PROOF_BYTES, makeChallenge, makeProof, readChallenge, verifyProof,
} from './handshake.js';

/** A stranger that connects and proves nothing is dropped after this long. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export type ListenSpec = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string };

export interface ConnectionHandler {
  /** An authenticated connection with `peer`; `leftover` holds bytes read past the handshake. */
  onConnection(peer: number, socket: net.Socket, leftover: Uint8Array | undefined, outgoing: boolean): void;
  /** An outgoing connection could not be made or was refused. */
  onConnectFailed(peer: number, error: Error): void;
}

/** Reads exactly `count` bytes from a fresh socket, then detaches; the rest is returned as leftover. */
function readExactly(
  socket: net.Socket, count: number, done: (bytes: Buffer | undefined, leftover: Uint8Array | undefined) => void,
): void {
  const chunks: Buffer[] = [];
  let have = 0;
  const timer = setTimeout(() => finish(undefined, undefined), HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  const finish = (bytes: Buffer | undefined, leftover: Uint8Array | undefined) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.off('error', onClose);
    done(bytes, leftover);
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    have += chunk.length;
    if (have < count) return;
    const all = chunks.length === 1 ? chunk : Buffer.concat(chunks);
    finish(all.subarray(0, count), have > count ? all.subarray(count) : undefined);
  };
  const onClose = () => finish(undefined, undefined);
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', onClose);
}

export function parseAddress(address: string): net.NetConnectOpts {
  if (address.startsWith('unix:')) return { path: address.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(address);
  if (!m) throw tsmpiError('TSMPI_ERR_PROTOCOL', `malformed peer address ${JSON.stringify(address)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export class Transport {
  private server: net.Server | undefined;
  /** Connections that have not yet proved the secret (closed on shutdown). */
  private readonly handshaking = new Set<net.Socket>();

  constructor(
    private readonly rank: number,
    private readonly size: number,
    private readonly secret: Uint8Array,
    private readonly handler: ConnectionHandler,
  ) {}

  /** Starts the listener; resolves with the address peers connect to. */
  listen(spec: ListenSpec): Promise<string> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
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

  private accept(socket: net.Socket): void {
    socket.unref();
    socket.setNoDelay(true);
    this.handshaking.add(socket);
    const { message, nonce } = makeChallenge();
    socket.on('error', () => socket.destroy());
    socket.write(message);
    readExactly(socket, PROOF_BYTES, (proof, leftover) => {
      this.handshaking.delete(socket);
      const peer = proof && verifyProof(this.secret, nonce, this.rank, this.size, proof);
      if (peer === undefined) {
        socket.destroy();
        return;
      }
      socket.removeAllListeners('error');
      this.handler.onConnection(peer, socket, leftover, false);
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
    const socket = net.connect({ ...target, noDelay: true } as net.NetConnectOpts);
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
    readExactly(socket, CHALLENGE_BYTES, (challenge, leftover) => {
      const nonce = challenge && readChallenge(challenge);
      if (!nonce || leftover) {
        fail(tsmpiError('TSMPI_ERR_AUTH', `rank ${peer} did not answer the tsmpi handshake at ${address}`));
        return;
      }
      this.handshaking.delete(socket);
      socket.off('error', fail);
      socket.write(makeProof(this.secret, nonce, this.rank, peer));
      this.handler.onConnection(peer, socket, undefined, true);
    });
  }

  close(): void {
    this.server?.close();
    for (const s of this.handshaking) s.destroy();
    this.handshaking.clear();
  }
}
