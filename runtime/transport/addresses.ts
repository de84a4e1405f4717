// Addresses of this host, as the launcher and the runtime need them to pick the interface that
// reaches other hosts (launcher placement, remote agents, ranks joining through PMI).
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1';
}

/** Every address of every interface of this host. */
export function localAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) found.add(a.address);
  return found;
}

/** The local address the kernel would send from toward `host` (a UDP connect; no packet is sent). */
export async function localAddressToward(host: string): Promise<string | undefined> {
  let target: { address: string; family: number };
  try {
    target = await lookup(host);
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    const socket = dgram.createSocket(target.family === 6 ? 'udp6' : 'udp4');
    const done = (address: string | undefined) => {
      try { socket.close(); } catch { /* closed */ }
      resolve(address);
    };
    socket.on('error', () => done(undefined));
    socket.connect(9, target.address, () => {
      try { done(socket.address().address); } catch { done(undefined); }
    });
  });
}
