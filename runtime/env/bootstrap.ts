// How a rank joins its job. Three ways in:
//  - started by tsmpirun: the secret arrives on an inherited pipe, the control plane gives rank,
//    size and (after every rank registered) all data-plane addresses;
//  - started by a PMI launcher (srun --mpi=pmi2, MPICH's mpiexec): PMI_FD or PMI_PORT in the
//    environment; see join-pmi.ts (the exchange) and pmi.ts (the wire protocol);
//  - started alone (`node script.js`, `npx tsx script.ts`): a job of one rank.
import { closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../control/client.js';
import { tsmpiError } from '../errors.js';
import { Engine } from '../p2p/engine.js';
import type { ListenSpec } from '../transport/transport.js';
import { readConfig, restoreUserExtraCaCerts, type RuntimeConfig } from './config.js';
import { installFailureHandlers } from './failure.js';
import { rankState } from './activity.js';
import type { JobControl } from './join-pmi.js';
import { becomeRankThread, rankStderrFd, tellHostWhyExiting, threadRank } from './thread-rank.js';
import { Recorder } from '../observe/recorder.js';
import { hostIdentity } from './host.js';
import { readObserveRequest, selfSession, tsmpirunSession, type ObserveSession } from './observe.js';

/** Announced messages larger than this are refused (a peer cannot make us allocate more). */
const MAX_MESSAGE_BYTES = 2 ** 40;

/** What joining gives a rank: its message engine, connected to its peers, and how to reach its launcher. */
export interface JoinedRank {
  readonly engine: Engine;
  /** tsmpirun's control client, or the PMI launcher's; undefined for a job of one rank. */
  readonly control: JobControl | undefined;
  readonly config: RuntimeConfig;
  /** Where this rank's recording goes at its fence (--profile, --trace, --comm-matrix); undefined when off. */
  readonly observe?: ObserveSession | undefined;
}

export async function bootstrap(): Promise<JoinedRank> {
  // A rank thread writes to its own pipes from its first line on.
  const thread = threadRank();
  if (thread) becomeRankThread(thread);
  const config = readConfig();
  if (config.script) process.argv[1] = config.script;
  restoreUserExtraCaCerts();
  if (config.control !== undefined) return joinTsmpirunJob(config);
  if (process.env.PMI_FD || process.env.PMI_PORT) return joinPmiLauncherJob(config);
  warnIfSrunWithoutPmi();
  const request = readObserveRequest();
  const recorder = request && new Recorder(0, 1, request.settings);
  const engine = new Engine({ rank: 0, size: 1, secret: new Uint8Array(0), eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES, recorder });
  const observe = recorder && await selfSession(recorder, request!, engine, [hostIdentity()], 'single', config.script ?? process.argv[1] ?? 'program');
  return { engine, control: undefined, config, observe };
}

function readSecret(fd: number | undefined): Buffer {
  if (fd === undefined) throw tsmpiError('TSMPI_ERR_AUTH', 'started by tsmpirun without a secret descriptor (TSMPI_SECRET_FD)');
  const secret = readFileSync(fd);
  closeSync(fd);
  if (secret.length < 16) throw tsmpiError('TSMPI_ERR_AUTH', 'the job secret is too short');
  return secret;
}

function listenSpec(config: RuntimeConfig, rank: number): ListenSpec {
  if (config.transport === 'tcp') return { kind: 'tcp', host: config.tcpHost };
  if (!config.jobDir) throw tsmpiError('TSMPI_ERR_ARG', 'TSMPI_JOB_DIR is required for the unix transport');
  return { kind: 'unix', path: join(config.jobDir, `r${rank}.sock`) };
}

async function joinTsmpirunJob(config: RuntimeConfig): Promise<JoinedRank> {
  const rank = config.rank, size = config.size;
  if (rank === undefined || size === undefined || rank >= size) {
    throw tsmpiError('TSMPI_ERR_ARG', 'TSMPI_RANK and TSMPI_SIZE must describe a rank of the job');
  }
  const thread = threadRank();
  const secret = thread ? Buffer.from(thread.secret) : readSecret(config.secretFd);
  // Rank threads share memory, unless TSMPI_TRANSPORT=tcp asks for TCP between all ranks.
  const shared = thread && !(config.transportGiven && config.transport === 'tcp') ? thread : undefined;
  const request = readObserveRequest();
  const recorder = request && new Recorder(rank, size, request.settings);
  const engine = new Engine({
    rank, size, secret, eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES, recorder,
    ...(shared ? { shm: { arena: shared.arena, spin: shared.spin, hostPort: shared.hostPort } } : {}),
  });
  let client: ControlClient | undefined;
  const abort = (code: number, what: string) => {
    if (thread) tellHostWhyExiting(thread, rank, code, what);
    client?.abort(code, what);
  };
  installFailureHandlers(rank, (what) => abort(1, what), { quietWhenPeerLost: true });
  // Rank threads of one process need no listener among themselves: shared memory carries it all.
  const needsListener = size > 1 && (!shared || shared.arena.worldRanks.length < size);
  const address = needsListener ? engine.listen(listenSpec(config, rank)) : Promise.resolve('');
  const joined = await ControlClient.connect(config.control!, rank, secret, address, {
    onPeerLost: (peer, reason) => engine.peerLost(peer, reason),
    // With a FIN on its way the FIN itself tells the engine, behind everything the peer sent.
    onPeerFinished: (peer, fin) => { if (!fin) engine.peerFinished(peer); },
    onCallConflict: (context, tag, other, op, root) => engine.callConflict(context, tag, other, op, root),
    reportState: () => rankState(engine),
    onLauncherLost: () => {
      try {
        writeSync(rankStderrFd, `[rank ${rank}] tsmpi: lost the connection to tsmpirun; ending this rank\n`);
      } finally {
        process.exit(1);
      }
    },
  });
  client = joined.client;
  engine.setPeerAddresses(joined.addresses);
  const observe = recorder && await tsmpirunSession(recorder, request!, joined.client);
  // abort() (MPI_Abort) leaves its last words where a failure does.
  const control: JobControl = { abort, finished: (told) => client!.finished(told), close: () => client!.close() };
  return { engine, control, config, observe };
}

async function joinPmiLauncherJob(config: RuntimeConfig): Promise<JoinedRank> {
  // The bundle (this very program) was read before any module of it ran: its directory can go now, so
  // not even the SIGKILL with which srun ends an aborted step leaves it behind.
  if (config.bundleDir) rmSync(config.bundleDir, { recursive: true, force: true });
  // Loaded only here: ranks started by tsmpirun or alone never pay for the PMI client.
  const [{ connectPmi }, { joinPmiJob, readPmiHints }] = await Promise.all([import('./pmi.js'), import('./join-pmi.js')]);
  let pmi: Awaited<ReturnType<typeof connectPmi>>;
  try {
    pmi = (await connectPmi(process.env))!;
  } catch (e) {
    if (process.env.PMI_FD && e instanceof Error) {
      e.message += ` (PMI_FD=${process.env.PMI_FD}: if npx or another wrapper stands between the PMI launcher and this program, it may have closed the launcher's descriptor; start node or ./node_modules/.bin/tsmpirun directly)`;
    }
    throw e;
  }
  const hints = readPmiHints(process.env, pmi.size);
  const request = readObserveRequest();
  const recorder = request && new Recorder(pmi.rank, pmi.size, request.settings);
  // The PMI descriptor and ids are this process's alone: a child (a worker the program starts, a nested
  // job) must not take them for its own.
  for (const key of Object.keys(process.env)) if (key.startsWith('PMI_')) delete process.env[key];
  const { engine, control, hosts, jobToken } = await joinPmiJob(config, pmi, hints, { eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES, recorder });
  const observe = recorder && await selfSession(recorder, request!, engine, hosts, jobToken, config.script ?? process.argv[1] ?? 'program');
  return { engine, control, config, observe };
}

/** `srun -n 4 node prog.js` without PMI starts four jobs of one rank each: almost always a mistake. */
function warnIfSrunWithoutPmi(): void {
  const env = process.env;
  if (env.SLURM_STEP_ID === undefined || env.SLURM_PROCID === undefined || !(Number(env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS) > 1)) return;
  if (env.SLURM_PROCID !== '0') return;
  try {
    writeSync(2, `tsmpi: started by srun as one of ${env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS} tasks without PMI, so every task is a job of one rank; `
      + 'to make the tasks one job, run srun --mpi=pmi2 (or tsmpirun inside the allocation)\n');
  } catch {
    // no stderr
  }
}
