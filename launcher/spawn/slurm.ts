// Starts the ranks of a job inside a Slurm allocation (sbatch, salloc): one srun step of N tasks, each
// task the rank agent (agent.ts) on the node Slurm chose, each agent starting one rank (its SLURM_PROCID).
//
// How the secret and the bundle get there without a command line: srun broadcasts its stdin to every task
// (--input=all), so tsmpirun writes the secret line, the header and the bundle once, to srun. Nothing
// else goes that way: srun's labelled output cuts lines longer than 1 KiB and interleaves tasks, so every
// agent connects back to tsmpirun over TCP (on the address the control server uses) and proves the secret
// against a fresh nonce; rank output, exit status, stdin for rank 0 and signals travel on that channel,
// one per rank. The job's supervision is then the same as for local ranks.
//
// Ending: tsmpirun signals ranks through their channels. srun runs under setpriv --pdeathsig TERM (srun
// ends the step on SIGTERM; a SIGKILLed srun would leave it running), and an agent whose channel closes
// kills its rank, so a dead tsmpirun leaves nothing. A rank whose agent never connected (it failed to
// start) ends the step (--kill-on-bad-exit) and so srun; srun's status then counts for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import {
  FrameKind, FrameReader, MAX_FRAME_BYTES, NONCE_BYTES, PROOF_BYTES, bootstrapBytes, checkAgentProof, encodeFrame,
  type AgentHeader,
} from './agent-protocol.js';
import { AGENT_PATH, type RankHandle } from './rank.js';

const SETPRIV = '/usr/bin/setpriv';
/** After srun exits, how long channels get to deliver their last frames before unreported ranks count as failed. */
const SETTLE_MS = 1000;
/** How long srun may outlive the last rank's report before it is told to end the step. */
const SRUN_LINGER_MS = 5000;
/** An agent connection that has not proved the secret by then is dropped. */
const PROOF_TIMEOUT_MS = 10_000;

/** True inside an allocation (a batch script or salloc shell) and not inside a step's task. */
export function inSlurmAllocation(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.SLURM_JOB_ID) && Boolean(env.SLURM_NTASKS) && env.SLURM_STEP_ID === undefined;
}

/** The allocation's task count (the default -np under Slurm). */
export function slurmTaskCount(env: NodeJS.ProcessEnv): number | undefined {
  const n = Number(env.SLURM_NTASKS);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Whether the allocation spans one node (ranks then use Unix sockets and loopback). */
export function slurmSingleNode(env: NodeJS.ProcessEnv): boolean {
  return (env.SLURM_JOB_NUM_NODES ?? env.SLURM_NNODES) === '1';
}

/** The allocation's node names (for choosing the interface that reaches them). */
export function slurmNodeNames(env: NodeJS.ProcessEnv): Promise<string[]> {
  const list = env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  if (!list) return Promise.resolve([]);
  return new Promise((resolve) => {
    const child = spawn('scontrol', ['show', 'hostnames', list], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', () => resolve([]));
    child.on('close', () => resolve(out.split('\n').map((s) => s.trim()).filter((s) => s !== '')));
  });
}

class SlurmRank extends EventEmitter implements RankHandle {
  readonly pid = undefined;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdin: Writable | null;
  private channel: net.Socket | undefined;
  private queued: Buffer[] = [];
  private exited = false;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(readonly rank: number, withStdin: boolean, private readonly killStep: (signal: NodeJS.Signals) => void) {
    super();
    this.stdin = withStdin
      ? new Writable({
        write: (chunk: Buffer, _encoding, callback) => {
          for (let at = 0; at < chunk.length; at += MAX_FRAME_BYTES) {
            this.send(encodeFrame(FrameKind.Stdin, chunk.subarray(at, Math.min(chunk.length, at + MAX_FRAME_BYTES))));
          }
          callback();
        },
        final: (callback) => {
          this.send(encodeFrame(FrameKind.StdinEnd));
          callback();
        },
      })
      : null;
    this.stdin?.on('error', () => {});
  }

  get connected(): boolean {
    return this.channel !== undefined;
  }

  get done(): boolean {
    return this.exited;
  }

  private send(frame: Buffer): void {
    if (this.channel) this.channel.write(frame);
    else this.queued.push(frame);
  }

  attach(socket: net.Socket, rest: Buffer): void {
    this.channel = socket;
    for (const f of this.queued.splice(0)) socket.write(f);
    const reader = new FrameReader((kind, payload) => {
      switch (kind) {
        case FrameKind.Stdout:
          this.stdout.write(Buffer.from(payload));
          return;
        case FrameKind.Stderr:
          this.stderr.write(Buffer.from(payload));
          return;
        case FrameKind.Exit: {
          try {
            const s = JSON.parse(payload.toString('utf8')) as { code: number | null; signal: NodeJS.Signals | null };
            this.exitStatus = { code: s.code, signal: s.signal };
          } catch {
            this.exitStatus = { code: 1, signal: null };
          }
          return;
        }
        default:
          socket.destroy();
      }
    });
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch {
        socket.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('close', () => {
      this.channel = undefined;
      if (this.exitStatus) this.finish(this.exitStatus.code, this.exitStatus.signal);
      else {
        this.stderr.write(`tsmpirun: the agent of rank ${this.rank} closed its channel without reporting an exit status\n`);
        this.finish(255, null);
      }
    });
    if (rest.length > 0) onData(rest);
  }

  /** Ends the rank's streams and reports its exit (once). */
  finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.stdout.end();
    this.stderr.end();
    // 'exit' after the streams' data is out, as a child process reports it.
    setImmediate(() => this.emit('exit', code, signal));
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exited) return;
    if (this.channel) this.send(encodeFrame(FrameKind.Signal, signal));
    else this.killStep(signal); // never connected: only srun can end it
  }
}

export interface SlurmLaunch {
  np: number;
  oversubscribe: boolean;
  secret: Uint8Array;
  /** The header without its channel (filled in here). */
  header: Omit<AgentHeader, 'channel'>;
  bundle: Buffer;
  /** Address the agents connect back to (tsmpirun's, as for the control server). */
  channelHost: string;
  say(line: string): void;
}

export interface SlurmStep {
  ranks: RankHandle[];
  /** Resolves when srun has exited and every rank has been reported. */
  finished: Promise<void>;
}

export async function startSlurmStep(spec: SlurmLaunch): Promise<SlurmStep> {
  let srun: ChildProcess | undefined;
  const killStep = (signal: NodeJS.Signals) => {
    // srun ends the step on SIGTERM (tasks get SIGKILL); a second SIGKILL is for srun itself.
    try { srun?.kill(signal === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM'); } catch { /* gone */ }
  };
  const ranks = Array.from({ length: spec.np }, (_, rank) => new SlurmRank(rank, rank === spec.header.stdinRank, killStep));

  const server = net.createServer({ noDelay: true }, (socket) => {
    const nonce = randomBytes(NONCE_BYTES);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), PROOF_TIMEOUT_MS);
    socket.on('error', () => socket.destroy());
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < PROOF_BYTES) return;
      socket.off('data', onData);
      clearTimeout(timer);
      const rank = checkAgentProof(spec.secret, nonce, got.subarray(0, PROOF_BYTES), spec.np);
      const target = rank === undefined ? undefined : ranks[rank];
      if (!target || target.connected || target.done) {
        socket.destroy();
        return;
      }
      target.attach(socket, got.subarray(PROOF_BYTES));
    };
    socket.on('data', onData);
    socket.write(nonce);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, spec.channelHost, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;

  const srunArgs = [
    '--mpi=none', `--ntasks=${spec.np}`, '--input=all', '--kill-on-bad-exit=1',
    ...(spec.oversubscribe ? ['--overcommit'] : []),
    process.execPath, AGENT_PATH,
  ];
  srun = existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'TERM', '--', 'srun', ...srunArgs], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('srun', srunArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
  const header: AgentHeader = { ...spec.header, channel: { kind: 'tcp', host: spec.channelHost, port } };
  srun.stdin!.on('error', () => {});
  srun.stdin!.write(bootstrapBytes(spec.secret, header));
  srun.stdin!.write(spec.bundle);
  // srun's own messages (and an agent's, before its channel is up) pass through unchanged.
  srun.stdout!.on('data', (d: Buffer) => process.stdout.write(d));
  srun.stderr!.on('data', (d: Buffer) => process.stderr.write(d));

  // Every rank reported and srun is still there (its step is winding down): it gets a few seconds.
  let lingerTimer: NodeJS.Timeout | undefined;
  const checkLinger = () => {
    if (lingerTimer || !ranks.every((r) => r.done)) return;
    lingerTimer = setTimeout(() => {
      killStep('SIGTERM');
      lingerTimer = setTimeout(() => killStep('SIGKILL'), SRUN_LINGER_MS);
      lingerTimer.unref();
    }, SRUN_LINGER_MS);
    lingerTimer.unref();
  };
  for (const r of ranks) r.on('exit', checkLinger);

  const finished = new Promise<void>((resolve) => {
    let ended = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      clearTimeout(lingerTimer);
      srun!.stdin!.destroy();
      setTimeout(() => {
        server.close();
        for (const r of ranks) {
          if (r.done) continue;
          // Reported by nobody: the agent never connected, or its last frames were lost.
          r.finish(code === 0 ? 255 : code, signal);
        }
        resolve();
      }, ranks.every((r) => r.done) ? 0 : SETTLE_MS);
    };
    srun!.on('error', (e) => {
      spec.say(`tsmpirun: cannot run srun: ${e.message}`);
      onEnd(127, null);
    });
    srun!.on('exit', onEnd);
  });
  return { ranks, finished };
}
