// A rank's connection to tsmpirun's control plane: proves the job secret, registers its data-plane
// address, receives everyone's addresses (the rendezvous), and carries aborts, lost-peer notices
// and hang reports. If tsmpirun goes away, so does the rank.
import { readSync } from 'node:fs';
import { WebSocket } from 'ws';
import { tsmpiError } from '../errors.js';
import {
  MAX_CONTROL_BYTES, controlProof, decodeToRank, encodeControl,
  type RankState, type ToLauncher, type ToRank,
} from './messages.js';

export interface ControlEvents {
  onPeerLost(rank: number, reason: string): void;
  /** `rank`'s program is done; `fin`: a FIN frame from it is on its way on the data plane. */
  onPeerFinished(rank: number, fin: boolean): void;
  /** Another rank is in the same collective call with another call or root (tsmpirun saw both). */
  onCallConflict(context: number, tag: number, rank: number, op: string, root: number): void;
  reportState(): RankState;
  /** The launcher is gone: the rank must end. */
  onLauncherLost(): void;
}

export class ControlClient {
  private readonly ws: WebSocket;
  private closing = false;
  /** Set while this rank waits in its finalize fence: called when every rank is done. */
  private allFinished: (() => void) | undefined;
  /** Clock pings waiting for tsmpirun's answer, by id. */
  private readonly clockPings = new Map<number, (time: number) => void>();
  private nextClockPing = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
  }

  /** Connects, proves the secret and registers; resolves with every rank's data-plane address. */
  static connect(
    url: string, rank: number, secret: Uint8Array, address: Promise<string>, events: ControlEvents,
  ): Promise<{ client: ControlClient; addresses: string[] }> {
    const ws = new WebSocket(url, { maxPayload: MAX_CONTROL_BYTES, perMessageDeflate: false });
    const client = new ControlClient(ws);
    return new Promise((resolve, reject) => {
      let registered = false;
      ws.on('open', () => (ws as unknown as { _socket: { unref(): void; setNoDelay(v: boolean): void } })._socket.setNoDelay(true));
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        let m: ToRank;
        try {
          if (!isBinary) throw tsmpiError('TSMPI_ERR_PROTOCOL', 'text frame on the control connection');
          m = decodeToRank(data);
        } catch (e) {
          ws.terminate();
          if (!registered) reject(e);
          return;
        }
        switch (m.t) {
          case 'challenge':
            void address.then((a) => client.send({ t: 'hello', rank, pid: process.pid, address: a, proof: controlProof(secret, m.nonce, rank) }), reject);
            return;
          case 'peers':
            registered = true;
            (ws as unknown as { _socket: { unref(): void } })._socket.unref();
            resolve({ client, addresses: m.addresses });
            return;
          case 'peer-lost':
            events.onPeerLost(m.rank, m.reason);
            return;
          case 'peer-finished':
            events.onPeerFinished(m.rank, m.fin);
            return;
          case 'all-finished':
            client.allFinished?.();
            return;
          case 'call-conflict':
            events.onCallConflict(m.ctx, m.tag, m.rank, m.op, m.root);
            return;
          case 'report-state':
            client.send({ t: 'state', id: m.id, ...events.reportState() });
            return;
          case 'clock':
            client.clockPings.get(m.id)?.(m.time);
            client.clockPings.delete(m.id);
            return;
        }
      });
      ws.on('error', (e) => {
        if (!registered) reject(tsmpiError('TSMPI_ERR_PEER_LOST', `cannot reach tsmpirun at ${url}: ${e.message}`, e));
      });
      ws.on('close', () => {
        if (!registered) reject(tsmpiError('TSMPI_ERR_PEER_LOST', 'tsmpirun closed the control connection during start-up'));
        else if (!client.closing) events.onLauncherLost();
      });
    });
  }

  send(message: ToLauncher): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeControl(message));
  }

  /**
   * The finalize fence: tells tsmpirun that this rank's program is done (and which peers got a FIN) and
   * resolves once every rank's is. tsmpirun answers at once when this is the last rank.
   */
  finished(told: number[]): Promise<void> {
    return new Promise((resolve) => {
      this.allFinished = resolve;
      this.send({ t: 'finished', told });
    });
  }

  /** Resolves with tsmpirun's clock (ms since the epoch), for clock alignment (observe/clock.ts). */
  clockPing(): Promise<number> {
    const id = this.nextClockPing++ & 0x7fffffff;
    return new Promise((resolve) => {
      this.clockPings.set(id, resolve);
      this.send({ t: 'clock', id });
    });
  }

  /** Sends an abort request and flushes it as far as the socket allows; the rank exits right after. */
  abort(code: number, message: string): void {
    this.send({ t: 'abort', code, message });
    this.discardUnread();
  }

  /**
   * Reads and drops whatever tsmpirun sent that this rank has not read yet (peer-finished notices,
   * state requests), straight from the socket, because the rank is about to exit: a socket closed with
   * unread bytes is reset rather than closed, and the reset lost the abort still on its way (1 run in
   * 10 with ranks as threads, when peers finished just before a rank threw).
   */
  private discardUnread(): void {
    const fd = (this.ws as unknown as { _socket?: { _handle?: { fd?: number } } })._socket?._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    const scratch = Buffer.allocUnsafe(64 * 1024);
    try {
      // The socket is non-blocking: reading ends with EAGAIN once nothing is left (or 0 at its end).
      while (readSync(fd, scratch) > 0) { /* dropped */ }
    } catch {
      // EAGAIN: nothing left unread
    }
  }

  close(): void {
    this.closing = true;
    this.ws.close();
    (this.ws as unknown as { _socket?: { unref(): void } })._socket?.unref();
  }
}
