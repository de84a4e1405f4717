// Starts a host's ranks as threads of one process (--ranks threads): one `node thread-host.js` child,
// and for each rank a handle the job treats like a rank process's (spawn/rank.ts): the rank's own
// stdout and stderr pipes, its exit status (reported by the host as a line on fd 4), and a kill
// that ends the host — the job only kills ranks to end them all. The host gets a parent-death signal
// as rank processes do, so a SIGKILLed tsmpirun leaves no thread running.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ResourceLimits } from 'node:worker_threads';
import { withThreadHostMallocSettings } from './local.js';
import type { RankHandle } from './rank.js';
import { FIRST_OUTPUT_FD, SECRET_FD, STATUS_FD, type ThreadHostSpec } from './thread-host-spec.js';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);
/** The compiled host program (dist/launcher/spawn/thread-host.js). */
const HOST_PATH = new URL('./thread-host.js', import.meta.url).pathname;

export interface ThreadHostLaunch {
  /** World ranks to run in this process. */
  ranks: number[];
  bundle: string;
  scriptArgs: string[];
  /** The ranks' environment (each thread adds its TSMPI_RANK). */
  env: NodeJS.ProcessEnv;
  /** --node-arg options: V8 heap limits become per-thread limits, the rest apply to the process. */
  nodeArgs: string[];
  secret: Uint8Array;
  /** The rank that reads tsmpirun's stdin, if it is one of these. */
  stdinRank: number | undefined;
  /** Spin while waiting (the threads fit the host's cores). */
  spin: boolean;
}

class ThreadRank extends EventEmitter implements RankHandle {
  exited = false;

  constructor(
    private readonly host: ChildProcess,
    readonly stdout: Readable | null,
    readonly stderr: Readable | null,
    readonly stdin: Writable | null,
    readonly processGone: Promise<void>,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.host.pid;
  }

  kill(signal: NodeJS.Signals): void {
    try {
      this.host.kill(signal);
    } catch {
      // already gone
    }
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code, signal);
  }
}

/** Per-thread V8 limits from node options, as workers take them (the options still apply to the process). */
export function threadResourceLimits(nodeArgs: readonly string[]): ResourceLimits {
  const limits: ResourceLimits = {};
  for (const arg of nodeArgs) {
    const m = /^--(max-old-space-size|max-semi-space-size|stack-size)=(\d+)$/.exec(arg.replaceAll('_', '-'));
    if (!m) continue;
    const n = Number(m[2]);
    if (m[1] === 'max-old-space-size') limits.maxOldGenerationSizeMb = n;
    else if (m[1] === 'max-semi-space-size') limits.maxYoungGenerationSizeMb = 3 * n;
    else limits.stackSizeMb = Math.max(1, Math.round(n / 1024));
  }
  return limits;
}

export function spawnThreadHost(launch: ThreadHostLaunch): RankHandle[] {
  // The malloc settings apply to the process; its threads see them in their environment as a rank process would.
  const env = withThreadHostMallocSettings(launch.env);
  const spec: ThreadHostSpec = {
    ranks: launch.ranks,
    bundle: launch.bundle,
    argv: launch.scriptArgs,
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    spin: launch.spin,
    resourceLimits: threadResourceLimits(launch.nodeArgs),
    stdinRank: launch.stdinRank,
  };
  const withStdin = launch.stdinRank !== undefined;
  const nodeArgv = [...launch.nodeArgs, HOST_PATH, JSON.stringify(spec)];
  const [command, args] = hasSetpriv
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...nodeArgv]]
    : [process.execPath, nodeArgv];
  const outputs = launch.ranks.flatMap(() => ['pipe', 'pipe'] as const);
  const host = spawn(command, args, {
    stdio: [withStdin ? 'pipe' : 'ignore', 'inherit', 'inherit', 'pipe', 'pipe', ...outputs],
    env,
  });
  const secretPipe = host.stdio[SECRET_FD] as Writable | null;
  secretPipe?.on('error', () => {});
  secretPipe?.end(Buffer.from(launch.secret));

  // Every rank reports its end on the status pipe before the host process ends; the job still waits
  // for the host itself, so that tsmpirun reaps it and its CPU time counts as tsmpirun's children's.
  const hostGone = new Promise<void>((resolve) => {
    host.once('exit', () => resolve());
    host.once('error', () => resolve());
  });
  const handles = launch.ranks.map((rank, i) => new ThreadRank(
    host,
    host.stdio[FIRST_OUTPUT_FD + 2 * i] as Readable | null,
    host.stdio[FIRST_OUTPUT_FD + 2 * i + 1] as Readable | null,
    rank === launch.stdinRank ? host.stdin : null,
    hostGone,
  ));
  const byRank = new Map(launch.ranks.map((rank, i) => [rank, handles[i]!]));

  let pending = '';
  const status = host.stdio[STATUS_FD] as Readable;
  status.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let status: { rank?: unknown; code?: unknown; abort?: unknown; what?: unknown };
      try {
        status = JSON.parse(line) as typeof status;
      } catch {
        continue;
      }
      const handle = typeof status.rank === 'number' ? byRank.get(status.rank) : undefined;
      if (typeof status.abort === 'number') handle?.emit('abort', status.abort, String(status.what ?? ''));
      else handle?.exit(typeof status.code === 'number' ? status.code : 1, null);
    }
  });
  host.on('error', (error) => { for (const h of handles) h.emit('error', error); });
  // 'close', not 'exit': once the host's status pipe has been read to its end, every status line is in.
  host.on('close', (code, signal) => {
    // Ranks the host did not report went down with it.
    for (const h of handles) h.exit(signal ? null : code || 1, signal);
  });
  return handles;
}

/**
 * Cores this process may run on: the CPU affinity (os.availableParallelism) and, in a container or a
 * Slurm job, the cgroup's CPU quota (cgroup v2 cpu.max, e.g. "200000 100000" = 2 cores).
 */
export function usableCores(): number {
  let cores = availableParallelism();
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) cores = Math.min(cores, Math.max(1, Math.floor(Number(quota) / Number(period))));
  } catch {
    // no cgroup v2 quota to read
  }
  return cores;
}
