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

/** Announced messages larger than this are refused (a peer cannot make us allocate more). */
const MAX_MESSAGE_BYTES = 2 ** 40;

/** What joining gives a rank: its message engine, connected to its peers, and how to reach its launcher. */
export interface JoinedRank {
  readonly engine: Engine;
  /** tsmpirun's control client, or the PMI launcher's; undefined for a job of one rank. */
  readonly control: JobControl | undefined;
  readonly config: RuntimeConfig;
}

export async function bootstrap(): Promise<JoinedRank> {
  const config = readConfig();
  if (config.script) process.argv[1] = config.script;
  restoreUserExtraCaCerts();
  if (config.control !== undefined) return joinTsmpirunJob(config);
  if (process.env.PMI_FD || process.env.PMI_PORT) return joinPmiLauncherJob(config);
  warnIfSrunWithoutPmi();
  const engine = new Engine({ rank: 0, size: 1, secret: new Uint8Array(0), eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES });
  return { engine, control: undefined, config };
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
  const secret = readSecret(config.secretFd);
  const engine = new Engine({ rank, size, secret, eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES });
  let control: ControlClient | undefined;
  installFailureHandlers(rank, (what) => control?.abort(1, what), { quietWhenPeerLost: true });
  const address = size > 1 ? engine.listen(listenSpec(config, rank)) : Promise.resolve('');
  const joined = await ControlClient.connect(config.control!, rank, secret, address, {
    onPeerLost: (peer, reason) => engine.peerLost(peer, reason),
    reportState: () => rankState(engine),
    onLauncherLost: () => {
      try {
        writeSync(2, `[rank ${rank}] tsmpi: lost the connection to tsmpirun; ending this rank\n`);
      } finally {
        process.exit(1);
      }
    },
  });
  control = joined.client;
  engine.setPeerAddresses(joined.addresses);
  return { engine, control, config };
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
  // The PMI descriptor and ids are this process's alone: a child (a worker the program starts, a nested
  // job) must not take them for its own.
  for (const key of Object.keys(process.env)) if (key.startsWith('PMI_')) delete process.env[key];
  const { engine, control } = await joinPmiJob(config, pmi, hints, { eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES });
  return { engine, control, config };
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
