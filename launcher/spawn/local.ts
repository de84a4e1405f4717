// Starts one rank as a local process. The job secret goes down an inherited pipe (fd 3), never on
// a command line or in the environment. Where util-linux's setpriv exists, the rank is started with
// a parent-death signal, so even a SIGKILLed tsmpirun leaves no rank behind, busy or not.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

export const SECRET_FD = 3;

export interface LocalRankSpec {
  rank: number;
  /** Arguments of `node` (options, then the script and its arguments). */
  nodeArgv: string[];
  env: NodeJS.ProcessEnv;
  secret: Uint8Array;
  /** Rank 0 gets tsmpirun's stdin. */
  withStdin: boolean;
}

export function spawnLocalRank(spec: LocalRankSpec): ChildProcess {
  const [command, args] = hasSetpriv
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...spec.nodeArgv]]
    : [process.execPath, spec.nodeArgv];
  const child = spawn(command, args, {
    stdio: [spec.withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...spec.env, TSMPI_SECRET_FD: String(SECRET_FD) },
  });
  const secretPipe = child.stdio[SECRET_FD] as NodeJS.WritableStream | null;
  secretPipe?.on('error', () => {});
  secretPipe?.end(Buffer.from(spec.secret));
  return child;
}
