// Starts one rank on another host: `ssh -o BatchMode=yes HOST CMD`, or `AGENT… HOST CMD` with
// --launch-agent (called like Open MPI's rsh agent and Hydra's launcher-exec). CMD runs the rank agent
// (agent.ts) with the node of this tsmpirun: both are assumed at the same paths on every host, like the
// runtime and the user's packages (API.md). The command line carries no secret: the secret, a header and
// the job's bundle go down the session's stdin, followed by frames (rank 0's stdin, signals). ssh keeps
// the rank's stdout, stderr and exit status apart, so they come back as the ssh client's own.
//
// Ending: a signal to the rank is a frame the agent forwards. If tsmpirun dies, the ssh client (under
// setpriv --pdeathsig TERM here) goes, the remote session ends, the agent reads end of file on stdin and
// kills the rank; a local launch agent gets the same SIGTERM (the death signal survives exec) or the
// same end of file. A rank told SIGKILL whose agent does not answer has its ssh client killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { FrameKind, FrameReader, MAX_FRAME_BYTES, encodeFrame, shellQuote } from './agent-protocol.js';
import { AGENT_PATH, type RankHandle } from './rank.js';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

/** After asking a remote rank for SIGKILL, how long its agent gets before the session is cut. */
const REMOTE_KILL_GRACE_MS = 3000;

export const DEFAULT_LAUNCH_AGENT = ['ssh', '-o', 'BatchMode=yes'];

/** Splits --launch-agent's value into words (whitespace; quotes group words, as a shell would). */
export function splitLaunchAgent(command: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(command); m !== null; m = re.exec(command)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** The command the remote login shell runs. */
export function remoteCommand(): string {
  return `exec ${shellQuote(process.execPath)} ${shellQuote(AGENT_PATH)}`;
}

export interface RemoteRankSpec {
  rank: number;
  host: string;
  /** ssh and its options, or the words of --launch-agent. */
  agent: string[];
  /** Secret and header lines (agent-protocol.ts bootstrapBytes), then the bundle. */
  bootstrap: Buffer;
  bundle: Buffer;
  withStdin: boolean;
}

/** Rank 0's stdin, as Stdin frames down the session's stdin. */
function stdinFrames(pipe: Writable): Writable {
  const stdin = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (let at = 0; at < chunk.length; at += MAX_FRAME_BYTES) {
        pipe.write(encodeFrame(FrameKind.Stdin, chunk.subarray(at, Math.min(chunk.length, at + MAX_FRAME_BYTES))));
      }
      // Back-pressure of the ssh pipe reaches tsmpirun's stdin through this callback.
      if (pipe.writableNeedDrain) pipe.once('drain', () => callback());
      else callback();
    },
    final(callback) {
      pipe.write(encodeFrame(FrameKind.StdinEnd), () => callback());
    },
  });
  stdin.on('error', () => {});
  return stdin;
}

class RemoteRank extends EventEmitter implements RankHandle {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdin: Writable | null;
  private killTimer: NodeJS.Timeout | undefined;
  private exited = false;
  /** With ranks as threads of one agent: the agent's session (ssh or the launch agent) ends after its ranks. */
  readonly processGone: Promise<void> | undefined;

  /** `output`: the rank's streams when they are not the session's own (ranks as threads of one agent). */
  constructor(private readonly child: ChildProcess, withStdin: boolean, output?: { stdout: Readable; stderr: Readable }) {
    super();
    this.stdout = output?.stdout ?? child.stdout;
    this.stderr = output?.stderr ?? child.stderr;
    const pipe = child.stdin!;
    pipe.on('error', () => {});
    this.stdin = withStdin ? stdinFrames(pipe) : null;
    child.on('error', (e) => this.emit('error', e));
    child.on('exit', (code, signal) => this.exit(code, signal));
    this.processGone = output && new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.killTimer);
    this.emit('exit', code, signal);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const pipe = this.child.stdin!;
    if (pipe.writable) pipe.write(encodeFrame(FrameKind.Signal, signal));
    if (signal === 'SIGKILL' && !this.killTimer) {
      this.killTimer = setTimeout(() => {
        try { this.child.kill('SIGKILL'); } catch { /* gone */ }
      }, REMOTE_KILL_GRACE_MS);
      this.killTimer.unref();
    }
  }
}

function spawnAgent(agent: string[], host: string): ChildProcess {
  const [program, ...options] = agent;
  const argv = [...options, host, remoteCommand()];
  return hasSetpriv
    ? spawn(SETPRIV, ['--pdeathsig', 'TERM', '--', program!, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(program!, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
}

export function spawnRemoteRank(spec: RemoteRankSpec): RankHandle {
  const child = spawnAgent(spec.agent, spec.host);
  const handle = new RemoteRank(child, spec.withStdin);
  child.stdin!.write(spec.bootstrap);
  child.stdin!.write(spec.bundle);
  return handle;
}

export interface RemoteThreadsSpec extends Omit<RemoteRankSpec, 'rank' | 'withStdin'> {
  /** The ranks the agent runs as threads of one process (the header lists them too). */
  ranks: number[];
  /** The rank that reads tsmpirun's stdin, if it is one of these. */
  stdinRank: number | undefined;
}

/**
 * Starts several ranks on another host as threads of one process, through one agent: its stdout
 * carries each rank's output and exit status as frames (agent-protocol.ts), its stderr the agent's own
 * words; a signal to any of the ranks goes to the agent, which ends them all.
 */
export function spawnRemoteThreads(spec: RemoteThreadsSpec): RankHandle[] {
  const child = spawnAgent(spec.agent, spec.host);
  const streams = spec.ranks.map(() => ({ stdout: new PassThrough(), stderr: new PassThrough() }));
  const handles = spec.ranks.map((rank, i) => new RemoteRank(child, rank === spec.stdinRank, streams[i]));
  const index = new Map(spec.ranks.map((rank, i) => [rank, i]));
  const reader = new FrameReader((kind, payload) => {
    const i = index.get(payload.readUInt32LE(0));
    if (i === undefined) return;
    const body = payload.subarray(4);
    if (kind === FrameKind.RankStdout) streams[i]!.stdout.write(Buffer.from(body));
    else if (kind === FrameKind.RankStderr) streams[i]!.stderr.write(Buffer.from(body));
    else if (kind === FrameKind.RankExit) {
      const { code, signal } = JSON.parse(body.toString('utf8')) as { code: number | null; signal: NodeJS.Signals | null };
      streams[i]!.stdout.end();
      streams[i]!.stderr.end();
      handles[i]!.exit(code, signal);
    }
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk);
    } catch {
      child.kill('SIGKILL');
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  child.on('close', () => {
    for (const s of streams) {
      s.stdout.end();
      s.stderr.end();
    }
  });
  child.stdin!.write(spec.bootstrap);
  child.stdin!.write(spec.bundle);
  return handles;
}
