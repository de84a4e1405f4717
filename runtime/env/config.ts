// The runtime's configuration, read once from TSMPI_* environment variables. Unknown TSMPI_ keys and bad
// values are rejected at start-up, so a misspelt setting is an error and never silently ignored: by
// tsmpirun before it starts any rank (launcher/cli.ts), and by every rank as it starts.
import { ENV_PREFIX as COLL_PREFIX, parseCollOverrides } from '../coll/select.js';
import { tsmpiError } from '../errors.js';

export interface RuntimeConfig {
  /** ws:// URL of tsmpirun's control plane (set by tsmpirun). */
  control: string | undefined;
  rank: number | undefined;
  size: number | undefined;
  /** File descriptor the job secret is read from (never an argument or variable value). */
  secretFd: number | undefined;
  /** Private 0700 directory of the job on this host (Unix sockets live here). */
  jobDir: string | undefined;
  /** 'unix' for ranks sharing a host, 'tcp' to force TCP (also used across hosts). Under PMI the
   *  default picks per peer (Unix sockets on the same host, TCP otherwise); 'tcp' forces TCP. */
  transport: 'unix' | 'tcp';
  /** TSMPI_TRANSPORT was set (under PMI, unset means: choose per peer). */
  transportGiven: boolean;
  /** Address to bind the TCP listener to. */
  tcpHost: string;
  /** TSMPI_TCP_HOST was set: under PMI it overrides the choice of interface. */
  tcpHostGiven: boolean;
  eagerLimit: number;
  /** The user's script as they named it (process.argv[1] shows it rather than the job's bundle). */
  script: string | undefined;
  /** Private directory holding this rank's bundle, to remove once loaded (tsmpirun as a PMI task). */
  bundleDir: string | undefined;
}

/**
 * The user's NODE_EXTRA_CA_CERTS, for a process that started without it or with a reduced file: set by
 * bin/tsmpirun for the launcher (which makes no TLS connection) and by tsmpirun for local ranks
 * (launcher/spawn/ca-certs.ts). Node 20 parses that file and its bundled roots at every start
 * (nodejs/node#40524: 35 ms of CPU per process here).
 */
export const USER_EXTRA_CA_CERTS_VARIABLE = 'TSMPI_NODE_EXTRA_CA_CERTS';

/** Puts the user's NODE_EXTRA_CA_CERTS back in process.env, for what the process runs and starts. */
export function restoreUserExtraCaCerts(): void {
  const user = process.env[USER_EXTRA_CA_CERTS_VARIABLE];
  if (user === undefined) return;
  process.env.NODE_EXTRA_CA_CERTS = user;
  delete process.env[USER_EXTRA_CA_CERTS_VARIABLE];
}

/**
 * The variables a user may set (the README's "Configuration of the runtime"), the one list that error
 * messages offer. TSMPI_LAUNCHER_ADDRESS is read by tsmpirun (the address its control server and local
 * ranks use when ranks run on other hosts); ranks inherit tsmpirun's environment, so they accept it too.
 */
const USER_VARIABLES: readonly string[] = [
  'TSMPI_RANKS', 'TSMPI_TRANSPORT', 'TSMPI_EAGER_LIMIT', 'TSMPI_TCP_HOST', 'TSMPI_LAUNCHER_ADDRESS', 'TSMPI_PMI',
  // --profile, --trace FILE, --comm-matrix FILE.svg and the event cap per rank (env/observe.ts reads them).
  'TSMPI_PROFILE', 'TSMPI_TRACE', 'TSMPI_COMM_MATRIX', 'TSMPI_OBSERVE_EVENTS',
];
/** The family of collective algorithm overrides, TSMPI_COLL_<NAME>=<algorithm>, validated by coll/select.ts. */
const USER_PREFIXES = [COLL_PREFIX];
/** What the user may set, as error messages list it. */
const USER_SETTINGS: readonly string[] = [...USER_VARIABLES, ...USER_PREFIXES.map((prefix) => `${prefix}<NAME>`)];
/**
 * Set by tsmpirun (and bin/tsmpirun) for what it starts: accepted, never offered. TSMPI_BUNDLE_DIR is set
 * by tsmpirun run as a PMI task: the private directory of the job's bundle, removed by the rank once
 * the bundle is loaded. TSMPI_OBSERVE_CLOCK names tsmpirun's host, whose clock recordings are aligned to.
 */
const INTERNAL_VARIABLES = new Set([
  'TSMPI_CONTROL', 'TSMPI_RANK', 'TSMPI_SIZE', 'TSMPI_SECRET_FD', 'TSMPI_JOB_DIR', 'TSMPI_SCRIPT', 'TSMPI_BUNDLE_DIR',
  'TSMPI_OBSERVE_CLOCK',
  USER_EXTRA_CA_CERTS_VARIABLE,
]);

function isKnownVariable(key: string): boolean {
  return USER_VARIABLES.includes(key) || USER_PREFIXES.some((p) => key.startsWith(p)) || INTERNAL_VARIABLES.has(key);
}

function integer(env: NodeJS.ProcessEnv, key: string, min: number, max: number): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw tsmpiError('TSMPI_ERR_ARG', `${key}=${raw} is not an integer in [${min}, ${max}]`);
  }
  return n;
}

/** Reads and checks the TSMPI_* variables of `env`; TSMPI_ERR_ARG for an unknown one or a bad value. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  for (const key of Object.keys(env)) {
    if (key.startsWith('TSMPI_') && !isKnownVariable(key)) {
      throw tsmpiError('TSMPI_ERR_ARG', `unknown variable ${key}; the variables users may set are: ${USER_SETTINGS.join(', ')}`);
    }
  }
  // Checked now, not at the first collective.
  parseCollOverrides(env);
  const transport = env.TSMPI_TRANSPORT ?? 'unix';
  if (transport !== 'unix' && transport !== 'tcp') {
    throw tsmpiError('TSMPI_ERR_ARG', `TSMPI_TRANSPORT=${transport}: expected unix or tcp`);
  }
  return {
    control: env.TSMPI_CONTROL || undefined,
    rank: integer(env, 'TSMPI_RANK', 0, 2 ** 31 - 1),
    size: integer(env, 'TSMPI_SIZE', 1, 2 ** 31 - 1),
    secretFd: integer(env, 'TSMPI_SECRET_FD', 0, 1 << 20),
    jobDir: env.TSMPI_JOB_DIR || undefined,
    transport,
    transportGiven: Boolean(env.TSMPI_TRANSPORT),
    tcpHost: env.TSMPI_TCP_HOST || '127.0.0.1',
    tcpHostGiven: Boolean(env.TSMPI_TCP_HOST),
    // 2 MiB, measured: eager messages above 16 KiB are written in place, not copied, so the rendezvous
    // round trip (RTS, then CTS, before the data) buys nothing but costs ~90 µs here. Ping-pong round
    // trips, limit 1 MiB against 2 MiB, 6 alternating jobs: 2 MiB Send/Recv 863-910 against 689-821 µs,
    // 1 MiB objects (1 MiB + 32 B encoded) 772-849 against 642-751 µs; at 4 MiB an eager limit of 16 MiB
    // made no difference beyond noise. Unexpected eager messages stay bounded by the credit window.
    eagerLimit: integer(env, 'TSMPI_EAGER_LIMIT', 0, 1 << 26) ?? 2 * 1024 * 1024,
    script: env.TSMPI_SCRIPT || undefined,
    bundleDir: env.TSMPI_BUNDLE_DIR || undefined,
  };
}
