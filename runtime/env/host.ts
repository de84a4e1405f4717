// Which host a process runs on, as far as sharing matters: ranks with the same identity reach each
// other by Unix socket (join-pmi.ts) and share a clock (observe/clock.ts).
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Host name, kernel boot id and network namespace: the same for processes on one host that can reach
 * each other's abstract Unix sockets, different across hosts (or network namespaces).
 */
export function hostIdentity(): string {
  let boot = '';
  let netns = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    netns = readlinkSync('/proc/self/ns/net');
  } catch {
    // not Linux: the host name alone
  }
  return `${hostname()}/${boot}/${netns}`;
}
