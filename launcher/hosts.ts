// Where ranks run when hosts are given (--host, --hostfile), and which address tsmpirun and the ranks on
// its own host use so that ranks on the other hosts can reach them.
//
// Placement is Open MPI's default by-slot mapping: ranks fill the first host's slots in order, then the
// next host's, and so on (`--host a:2,b:2 -np 4`: ranks 0,1 on a, 2,3 on b). With --oversubscribe, ranks
// beyond the total slot count wrap around and fill the hosts again in the same order.
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { hostname, networkInterfaces } from 'node:os';
import type { HostSpec } from './options.js';

export function totalSlots(hosts: readonly HostSpec[]): number {
  return hosts.reduce((n, h) => n + h.slots, 0);
}

/** The host of each rank, by slot (see above). The caller has checked np against the slots. */
export function placeRanks(hosts: readonly HostSpec[], np: number): string[] {
  const order = hosts.flatMap((h) => Array.from({ length: h.slots }, () => h.host));
  if (order.length === 0) throw new Error('no hosts to place ranks on');
  return Array.from({ length: np }, (_, rank) => order[rank % order.length]!);
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1';
}

function localAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) found.add(a.address);
  return found;
}

/**
 * Whether `host` names the machine tsmpirun runs on: localhost, this machine's name (full or short),
 * or a name or address that resolves to an address of one of its interfaces. Such ranks are started as
 * local processes, not over ssh.
 */
export async function isLocalHost(host: string): Promise<boolean> {
  const me = hostname();
  if (host === 'localhost' || host === me || host === me.split('.')[0]) return true;
  let resolved: { address: string }[];
  try {
    resolved = await lookup(host, { all: true });
  } catch {
    return false; // only ssh knows it (an alias in ~/.ssh/config): another host
  }
  const mine = localAddresses();
  return resolved.length > 0 && resolved.every((r) => isLoopback(r.address) || mine.has(r.address));
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

export class AddressError extends Error {}

/**
 * The address tsmpirun's control server and its local ranks bind to when ranks run on `remoteHosts`:
 * TSMPI_LAUNCHER_ADDRESS when set, else the source address of the route to the first remote host that
 * resolves (the interface that reaches the other hosts). Never a wildcard address.
 */
export async function chooseLauncherAddress(remoteHosts: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const forced = env.TSMPI_LAUNCHER_ADDRESS;
  if (forced) {
    if (forced === '0.0.0.0' || forced === '::') throw new AddressError(`TSMPI_LAUNCHER_ADDRESS=${forced}: give the address of one interface, not a wildcard`);
    return forced;
  }
  for (const host of remoteHosts) {
    const address = await localAddressToward(host);
    if (address !== undefined) return address;
  }
  throw new AddressError(
    `cannot find the local address that reaches ${remoteHosts.join(', ')} (names only ssh can resolve?); set TSMPI_LAUNCHER_ADDRESS to this host's address on the network the hosts share`,
  );
}
