// tsmpirun's side of the control plane: a WebSocket server on loopback (or the interface the hosts
// share) with a per-job secret. A connection is believed only after it proves the secret against a
// fresh challenge; anything else is closed and the job carries on. It collects every rank's data-
// plane address and, when all have registered, hands the full table to each (the rendezvous).
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  MAX_CONTROL_BYTES, checkControlProof, decodeToLauncher, encodeControl,
  type RankState, type ToLauncher, type ToRank,
} from '../../runtime/control/messages.js';
import { wallNow } from '../../runtime/observe/clock.js';

/** A connection that has not proved the secret by then is dropped. */
const REGISTRATION_TIMEOUT_MS = 10_000;

export interface ControlServerEvents {
  onRegistered(rank: number, pid: number): void;
  onAbort(rank: number, code: number, message: string): void;
  /** `rank`'s program is done; `told`: the peers it sent a FIN frame. */
  onFinished(rank: number, told: number[]): void;
  onState(rank: number, id: number, state: RankState): void;
  /** A part of `rank`'s recording (--profile, --trace, --comm-matrix), in the order sent. */
  onObserve(rank: number, part: Uint8Array): void;
  onDisconnected(rank: number): void;
}

export class ControlServer {
  private readonly sockets: (WebSocket | undefined)[];
  private readonly addresses: (string | undefined)[];
  private registered = 0;
  private readonly disconnectWaiters = new Map<number, (() => void)[]>();
  private readonly disconnected = new Set<number>();

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
    private readonly secret: Uint8Array,
    private readonly size: number,
    private readonly events: ControlServerEvents,
  ) {
    this.sockets = new Array(size);
    this.addresses = new Array(size);
    wss.on('connection', (ws) => this.accept(ws));
  }

  static start(secret: Uint8Array, size: number, host: string, events: ControlServerEvents): Promise<ControlServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host, port: 0, maxPayload: MAX_CONTROL_BYTES, perMessageDeflate: false, clientTracking: true });
      wss.once('error', reject);
      wss.once('listening', () => {
        wss.off('error', reject);
        const a = wss.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve(new ControlServer(wss, `ws://${h}:${a.port}`, secret, size, events));
      });
    });
  }

  private accept(ws: WebSocket): void {
    const nonce = randomBytes(16);
    let rank = -1;
    const timer = setTimeout(() => { if (rank < 0) ws.terminate(); }, REGISTRATION_TIMEOUT_MS);
    (ws as unknown as { _socket?: { setNoDelay(v: boolean): void } })._socket?.setNoDelay(true);
    ws.send(encodeControl({ t: 'challenge', nonce }));
    ws.on('error', () => ws.terminate());
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let m: ToLauncher;
      try {
        if (!isBinary) throw new Error('text frame');
        m = decodeToLauncher(data);
      } catch {
        ws.terminate();
        return;
      }
      if (rank < 0) {
        if (m.t !== 'hello' || m.rank >= this.size || this.sockets[m.rank] || !checkControlProof(this.secret, nonce, m.rank, m.proof)) {
          ws.terminate();
          return;
        }
        clearTimeout(timer);
        rank = m.rank;
        this.sockets[rank] = ws;
        this.addresses[rank] = m.address;
        this.registered++;
        this.events.onRegistered(rank, m.pid);
        if (this.registered === this.size) {
          this.broadcast({ t: 'peers', addresses: this.addresses as string[] });
        }
        return;
      }
      switch (m.t) {
        case 'hello':
          ws.terminate();
          return;
        case 'abort':
          this.events.onAbort(rank, m.code, m.message);
          return;
        case 'finished':
          this.events.onFinished(rank, m.told);
          return;
        case 'state':
          this.events.onState(rank, m.id, m);
          return;
        case 'observe':
          this.events.onObserve(rank, m.part);
          return;
        case 'clock':
          ws.send(encodeControl({ t: 'clock', id: m.id, time: wallNow() }));
          return;
      }
    });
    ws.on('close', () => {
      clearTimeout(timer);
      if (rank < 0) return;
      this.disconnected.add(rank);
      for (const w of this.disconnectWaiters.get(rank) ?? []) w();
      this.disconnectWaiters.delete(rank);
      this.events.onDisconnected(rank);
    });
  }

  /** Resolves when `rank`'s control connection has closed (its last messages were read), or after `timeoutMs`. */
  whenDisconnected(rank: number, timeoutMs: number): Promise<void> {
    if (this.disconnected.has(rank) || !this.sockets[rank]) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const list = this.disconnectWaiters.get(rank) ?? [];
      list.push(() => { clearTimeout(timer); resolve(); });
      this.disconnectWaiters.set(rank, list);
    });
  }

  sendTo(rank: number, message: ToRank): void {
    const ws = this.sockets[rank];
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(encodeControl(message));
  }

  broadcast(message: ToRank): void {
    const bytes = encodeControl(message);
    for (const ws of this.sockets) if (ws && ws.readyState === WebSocket.OPEN) ws.send(bytes);
  }

  isConnected(rank: number): boolean {
    return this.sockets[rank] !== undefined && !this.disconnected.has(rank);
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
