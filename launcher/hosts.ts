// Where ranks run when hosts are given (--host, --hostfile), and which address tsmpirun and the ranks on
// its own host use so that ranks on the other hosts can reach them.
//
// Placement is Open MPI's default by-slot mapping: ranks fill the first host's slots in order, then the
// next host's, and so on (`--host a:2,b:2 -np 4`: ranks 0,1 on a, 2,3 on b). With --oversubscribe, ranks
// beyond the total slot count wrap around and fill the hosts again in the same order.
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { isLoopback, localAddresses, localAddressToward } from '../runtime/transport/addresses.js';
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
