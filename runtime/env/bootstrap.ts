// How a rank joins its job. Three ways in:
//  - started by tsmpirun: the secret arrives on an inherited pipe, the control plane gives rank,
//    size and (after every rank registered) all data-plane addresses;
//  - started by a PMI launcher (srun --mpi=pmi2, MPICH's mpiexec): see pmi.ts;
//  - started alone (`node script.js`, `npx tsx script.ts`): a job of one rank.
import { closeSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../control/client.js';
import { tsmpiError } from '../errors.js';
import { Engine } from '../p2p/engine.js';
import type { ListenSpec } from '../transport/transport.js';
import { readConfig, type RuntimeConfig } from './config.js';
import { installFailureHandlers } from './failure.js';
import { rankState } from './activity.js';

/** Announced messages larger than this are refused (a peer cannot make us allocate more). */
const MAX_MESSAGE_BYTES = 2 ** 40;

export interface World {
  readonly engine: Engine;
  readonly control: ControlClient | undefined;
  readonly config: RuntimeConfig;
}

export async function bootstrap(): Promise<World> {
  const config = readConfig();
  if (config.script) process.argv[1] = config.script;
  if (config.control !== undefined) return joinTsmpirunJob(config);
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

async function joinTsmpirunJob(config: RuntimeConfig): Promise<World> {
  const rank = config.rank, size = config.size;
  if (rank === undefined || size === undefined || rank >= size) {
    throw tsmpiError('TSMPI_ERR_ARG', 'TSMPI_RANK and TSMPI_SIZE must describe a rank of the job');
  }
  const secret = readSecret(config.secretFd);
  const engine = new Engine({ rank, size, secret, eagerLimit: config.eagerLimit, maxMessageBytes: MAX_MESSAGE_BYTES });
  let control: ControlClient | undefined;
  installFailureHandlers(rank, (message) => control?.abort(1, `failed: ${message}`));
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
