// How a rank joins a job whose processes were started by a PMI launcher — Slurm's `srun --mpi=pmi2` or
// MPICH's `mpiexec` (Hydra) — with no tsmpirun involved. Rank and size come from PMI; everything else
// travels through the launcher's key-value store in ONE put/fence/get round:
//  - every rank puts an address card: a host identity, its Unix socket, and (when ranks may live on
//    other hosts) a TCP address on the interface that reaches them;
//  - rank 0 also puts the job secret (random, made by it). The key-value store is private to the job's
//    processes (each reaches it over a descriptor or port its launcher gave it), so the secret is as safe
//    there as on tsmpirun's pipe. The engine needs the secret only to authenticate connections, and no
//    peer can know an address before the fence, so ranks other than 0 start with a random placeholder
//    and receive the real secret after the fence (written into the same buffer the transport holds).
//    A peer that is quicker may connect before this rank has the secret: its proof waits for it
//    (Transport's `secretReady`) rather than fail against the placeholder.
// Each peer is then reached by its Unix socket when it runs on this host (same host name and boot id)
// and by TCP otherwise. Aborts go to the PMI launcher (Hydra ends the job with the code; srun kills the
// step, exit status 137); a rank exiting non-zero aborts the job likewise; a rank that ends normally
// finalizes PMI.
import { createHash, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTsmpiError, tsmpiError } from '../errors.js';
import { Engine } from '../p2p/engine.js';
import type { Recorder } from '../observe/recorder.js';
import { isLoopback, localAddresses, localAddressToward } from '../transport/addresses.js';
import type { RuntimeConfig } from './config.js';
import { hostIdentity } from './host.js';
import { installFailureHandlers } from './failure.js';
import type { PmiClient } from './pmi.js';

/** What the rest of the runtime may ask of the launcher that started the job. */
export interface JobControl {
  /** Ends the whole job with `code` (best effort; the caller exits right after). */
  abort(code: number, message: string): void;
  /**
   * The finalize fence (finalize.ts): this rank's program is done (`told`: the peers that got a FIN);
   * resolves once every rank's is.
   */
  finished(told: number[]): Promise<void>;
  close(): void;
}

/** What the environment said about where the job runs, read before PMI_* is removed from it. */
export interface PmiHints {
  /** Every rank runs on this host (Hydra's MPI_LOCALNRANKS, srun's SLURM_STEP_NUM_NODES). */
  oneHost: boolean;
  /** Hosts worth routing toward to find the interface the job's hosts share (PMI_PORT's host, srun's node). */
  routeHints: string[];
}

const SECRET_KEY = 'tsmpi-secret';
const SECRET_BYTES = 32;
const addressKey = (rank: number): string => `tsmpi-addr-${rank}`;
const doneKey = (rank: number): string => `tsmpi-done-${rank}`;

/** An address card as published under tsmpi-addr-<rank>. */
interface AddressCard {
  /** Host identity: host name and kernel boot id. */
  h: string;
  /** Unix socket address (unix:/path), when listening on one. */
  u?: string;
  /** TCP address (tcp:host:port), when listening on one. */
  t?: string;
}

export function readPmiHints(env: NodeJS.ProcessEnv, size?: number): PmiHints {
  const localRanks = env.MPI_LOCALNRANKS;
  const stepNodes = env.SLURM_STEP_NUM_NODES ?? (env.SLURM_STEP_ID !== undefined ? env.SLURM_NNODES : undefined);
  const oneHost = (localRanks !== undefined && size !== undefined && localRanks === String(size)) || stepNodes === '1';
  const routeHints: string[] = [];
  const port = env.PMI_PORT;
  if (port) {
    const m = /^\[?([^\]]*)\]?:[0-9]+$/.exec(port);
    if (m?.[1]) routeHints.push(m[1]);
  }
  for (const key of ['SLURM_LAUNCH_NODE_IPADDR', 'SLURM_SRUN_COMM_HOST']) {
    const v = env[key];
    if (v) routeHints.push(v);
  }
  return { oneHost, routeHints };
}

/**
 * The address this rank's TCP listener binds to and publishes: TSMPI_TCP_HOST when set; else the
 * interface toward the launcher's host; else the address of this host's name; else the first
 * non-loopback IPv4 address; else loopback (a job on one host). Never 0.0.0.0.
 */
async function chooseTcpHost(config: RuntimeConfig, hints: PmiHints): Promise<string> {
  if (config.tcpHostGiven) return config.tcpHost;
  for (const hint of hints.routeHints) {
    const a = await localAddressToward(hint);
    if (a && !isLoopback(a)) return a;
  }
  const mine = localAddresses();
  try {
    const named = await lookup(hostname(), { all: true });
    const usable = named.find((n) => !isLoopback(n.address) && mine.has(n.address));
    if (usable) return usable.address;
  } catch {
    // the host name does not resolve
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function parseCard(rank: number, text: string | undefined): AddressCard {
  let card: unknown;
  try {
    card = text === undefined ? undefined : JSON.parse(text);
  } catch {
    card = undefined;
  }
  const c = card as Partial<AddressCard> | undefined;
  if (typeof c !== 'object' || c === null || typeof c.h !== 'string'
    || (c.u !== undefined && typeof c.u !== 'string') || (c.t !== undefined && typeof c.t !== 'string')) {
    throw tsmpiError('TSMPI_ERR_PROTOCOL', `PMI: rank ${rank} published no valid tsmpi address (${text === undefined ? 'missing' : JSON.stringify(text.slice(0, 80))}); are all ranks tsmpi programs of the same version?`);
  }
  return c as AddressCard;
}

/** PMI's abort takes 0…255; a non-zero code must stay non-zero. */
function exitCodeForPmi(code: number): number {
  if (!Number.isInteger(code) || code === 0) return code === 0 ? 0 : 1;
  return (code & 0xff) || 1;
}

export async function joinPmiJob(
  config: RuntimeConfig, pmi: PmiClient, hints: PmiHints, limits: { eagerLimit: number; maxMessageBytes: number; recorder?: Recorder | undefined },
): Promise<{ engine: Engine; control: JobControl; hosts: string[]; jobToken: string }> {
  const { rank, size } = pmi;
  // Ranks other than 0 hold a random placeholder until the fence delivers rank 0's secret.
  const secret = randomBytes(SECRET_BYTES);
  // Settled when the real secret is in place; a rank that never gets it fails the join and exits.
  let secretSet: (() => void) | undefined;
  const secretReady = rank === 0 ? undefined : new Promise<void>((resolve) => { secretSet = resolve; });
  const engine = new Engine({ rank, size, secret, secretReady, eagerLimit: limits.eagerLimit, maxMessageBytes: limits.maxMessageBytes, recorder: limits.recorder });

  let finalizing: Promise<void> | undefined;
  const finalizeOnce = (): Promise<void> => (finalizing ??= pmi.finalize().catch(() => undefined));
  const control: JobControl = {
    abort(code, message) {
      pmi.abort(exitCodeForPmi(code), message).catch(() => undefined);
    },
    async finished() {
      // A barrier in every dialect: under Hydra's PMI-2 the fence returns at once, but a get after it
      // waits until every rank has fenced.
      await pmi.put(doneKey(rank), '1');
      await pmi.fence();
      if (size > 1) await pmi.get(doneKey((rank + 1) % size), (rank + 1) % size);
    },
    close() {
      void finalizeOnce();
    },
  };
  // Under Hydra a rank that fails only because a peer is gone sends no abort of its own. Hydra's server
  // exits with the code of the LAST abort it reads in one round (4.0.2, pmiserv_pmi_v1.c fn_abort), so
  // the peers' abort(1) could replace the failing rank's code, which it has already sent: with four busy
  // loops running, 1 in 40 single-host jobs exited 1, and 0 in 60 without the peers' aborts. Hydra still
  // ends the job: a rank whose PMI connection closes before it finalized makes the proxy kill them all.
  // srun turns any abort into the same kill (exit status 137), so there every failure keeps aborting,
  // the surest end.
  let quietExit = false;
  installFailureHandlers(rank, (message, reason) => {
    if (pmi.launcher === 'hydra' && isTsmpiError(reason, 'TSMPI_ERR_PEER_LOST')) {
      quietExit = true;
      return;
    }
    control.abort(1, `rank ${rank} ${message}`);
  });

  let ownDir: string | undefined;
  process.on('exit', (code) => {
    // A rank that ends with a failure ends the job (PMI launchers would otherwise wait for the others).
    // Written synchronously: the abort's bytes leave in this call.
    if (code !== 0 && !quietExit) control.abort(code, `rank ${rank} exited with code ${code}`);
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  });

  if (size === 1) return { engine, control, hosts: [hostIdentity()], jobToken: secret.toString('hex').slice(0, 16) };

  const forceTcp = config.transportGiven && config.transport === 'tcp';
  const forceUnix = config.transportGiven && config.transport === 'unix';
  const card: AddressCard = { h: hostIdentity() };
  if (!forceTcp) {
    // On Linux an abstract socket: no file, so nothing is left behind when a launcher SIGKILLs the rank
    // (srun always does on abort). Anyone in the network namespace may connect, as anyone may to a TCP
    // port: the handshake, not the file system, keeps strangers out. Elsewhere a private directory.
    let path: string;
    if (process.platform === 'linux') {
      path = `\0tsmpi-${randomBytes(12).toString('hex')}-r${rank}`;
    } else {
      let dir = config.jobDir;
      if (!dir) dir = ownDir = mkdtempSync(join(tmpdir(), 'tsmpi-rank-'));
      path = join(dir, `r${rank}.sock`);
    }
    card.u = await engine.listen({ kind: 'unix', path });
  }
  if (forceTcp || (!forceUnix && !hints.oneHost)) {
    card.t = await engine.listen({ kind: 'tcp', host: await chooseTcpHost(config, hints) });
  }
  await pmi.put(addressKey(rank), JSON.stringify(card));
  if (rank === 0) await pmi.put(SECRET_KEY, secret.toString('hex'));
  await pmi.fence();

  if (rank !== 0) {
    const shared = await pmi.get(SECRET_KEY, 0);
    if (shared === undefined || !/^[0-9a-f]+$/.test(shared) || shared.length !== SECRET_BYTES * 2) {
      throw tsmpiError('TSMPI_ERR_AUTH', 'PMI: rank 0 published no job secret');
    }
    secret.set(Buffer.from(shared, 'hex'));
    secretSet?.();
  }
  const addresses: string[] = new Array(size).fill('');
  const hosts: string[] = new Array(size).fill(card.h);
  for (let peer = 0; peer < size; peer++) {
    if (peer === rank) continue;
    const theirs = parseCard(peer, await pmi.get(addressKey(peer), peer));
    hosts[peer] = theirs.h;
    const sameHost = theirs.h === card.h;
    const address = theirs.u !== undefined && sameHost && !forceTcp ? theirs.u : theirs.t;
    if (address === undefined) {
      throw tsmpiError('TSMPI_ERR_PEER_LOST', `PMI: rank ${peer} runs on another host (${theirs.h.split('/')[0]}) but listens on no TCP address (TSMPI_TRANSPORT=unix?)`);
    }
    addresses[peer] = address;
  }
  engine.setPeerAddresses(addresses);
  // A name every rank of the job shares and no other job has (for the directory of recordings, env/observe.ts).
  const jobToken = createHash('sha256').update('tsmpi-job').update(secret).digest('hex').slice(0, 16);
  return { engine, control, hosts, jobToken };
}
