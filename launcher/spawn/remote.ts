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
import { Writable, type Readable } from 'node:stream';
import { FrameKind, MAX_FRAME_BYTES, encodeFrame, shellQuote } from './agent-protocol.js';
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

class RemoteRank extends EventEmitter implements RankHandle {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdin: Writable | null;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(private readonly child: ChildProcess, withStdin: boolean) {
    super();
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    const pipe = child.stdin!;
    pipe.on('error', () => {});
    this.stdin = withStdin
      ? new Writable({
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
      })
      : null;
    this.stdin?.on('error', () => {});
    child.on('error', (e) => this.emit('error', e));
    child.on('exit', (code, signal) => {
      clearTimeout(this.killTimer);
      this.emit('exit', code, signal);
    });
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

export function spawnRemoteRank(spec: RemoteRankSpec): RankHandle {
  const [program, ...options] = spec.agent;
  const argv = [...options, spec.host, remoteCommand()];
  const child = hasSetpriv
    ? spawn(SETPRIV, ['--pdeathsig', 'TERM', '--', program!, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(program!, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  const handle = new RemoteRank(child, spec.withStdin);
  child.stdin!.write(spec.bootstrap);
  child.stdin!.write(spec.bundle);
  return handle;
}
