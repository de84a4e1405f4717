// The data-plane handshake when the acceptor learns the job secret only after its peers can reach it
// (runtime/transport/transport.ts `secretReady`; a rank of a PMI job gets the secret from the key-value
// store after the fence that gave its address to the others). A quicker peer connects, proves the real
// secret and writes its first message right behind the proof: the proof must wait for the secret rather
// than fail against the placeholder, and the message must reach the engine's reader intact. Under Hydra
// across hosts either loss left a rank waiting forever for a message its peer had sent.
//
// Two Transports in this process over a real Unix socket. The connector writes proof and message in one
// turn of the event loop, so the acceptor reads both in one read, before it knows the secret.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../runtime/transport/connection.js';
import { Transport, type ConnectionHandler } from '../../runtime/transport/transport.js';

const dirs: string[] = [];
const transports: Transport[] = [];
const connections: Connection[] = [];
afterEach(() => {
  for (const c of connections.splice(0)) c.socket.destroy();
  for (const t of transports.splice(0)) t.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Collects what a connection delivers to the reader its handler installs. */
function collect(conn: Connection, into: Buffer[], onData: () => void): void {
  connections.push(conn);
  conn.setReader({
    directTarget: () => undefined,
    onBytes: (buf, n) => {
      into.push(Buffer.from(buf.subarray(0, n)));
      onData();
    },
  });
}

function handler(overrides: Partial<ConnectionHandler>): ConnectionHandler {
  return { onConnection: () => {}, onConnectFailed: () => {}, ...overrides };
}

async function acceptorAndConnector(secretArrives: 'before' | 'after-proof') {
  const dir = mkdtempSync(join(tmpdir(), 'tsmpi-transport-secret-'));
  dirs.push(dir);
  const realSecret = randomBytes(32);
  const acceptorSecret = randomBytes(32); // the placeholder, overwritten when the secret arrives
  let release!: () => void;
  const secretReady = new Promise<void>((resolve) => { release = () => { acceptorSecret.set(realSecret); resolve(); }; });
  if (secretArrives === 'before') release();

  const message = randomBytes(3000);
  const received: Buffer[] = [];
  let receivedBytes = 0;
  let heldForSecret = 0;
  let accepted: number | undefined;
  const delivered = new Promise<void>((done) => {
    const acceptor = new Transport(1, 2, acceptorSecret, handler({
      onConnection: (peer, conn) => {
        accepted = peer;
        collect(conn, received, () => { receivedBytes = received.reduce((n, b) => n + b.length, 0); if (receivedBytes >= message.length) done(); });
      },
      onProofBeforeSecret: () => {
        heldForSecret++;
        release();
      },
    }), secretReady);
    transports.push(acceptor);
    void acceptor.listen({ kind: 'unix', path: join(dir, 'r1.sock') }).then((address) => {
      const connector = new Transport(0, 2, realSecret, handler({
        onConnection: (_peer, conn) => {
          collect(conn, [], () => {});
          conn.socket.write(message); // right behind the proof, in the same turn
        },
        onConnectFailed: (_peer, error) => { throw error; },
      }));
      transports.push(connector);
      connector.connect(1, address);
    });
  });
  await delivered;
  return { accepted, heldForSecret, received: Buffer.concat(received), message };
}

describe('a proof that arrives before the acceptor knows the secret', () => {
  it('waits for the secret, then the connection is accepted and the message behind the proof arrives intact', { timeout: 10_000 }, async () => {
    const r = await acceptorAndConnector('after-proof');
    expect(r.heldForSecret).toBe(1);
    expect(r.accepted).toBe(0);
    expect(r.received.equals(r.message)).toBe(true);
  });

  it('with the secret known before the proof, nothing waits and the message arrives intact', { timeout: 10_000 }, async () => {
    const r = await acceptorAndConnector('before');
    expect(r.heldForSecret).toBe(0);
    expect(r.accepted).toBe(0);
    expect(r.received.equals(r.message)).toBe(true);
  });
});
