// A tsmpi job the benchmark talks to: `tsmpirun -np N` of one of the programs in ranks/, fed one JSON
// command per line on rank 0's stdin, each answered by a `RESULT {json}` line (ranks/serve.ts).
// Shared by the suite (run.ts) and by solo.ts, which runs one measurement alone for a profiler.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { log } from './lib.js';

export const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
export const ROOT = join(HERE, '..', '..');
/** What `npx tsmpirun` runs: package.json's bin (bin/tsmpirun, a shell script), else the modules tsc emitted. */
const LAUNCHER = ((): string => {
  try {
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin?: Record<string, string> }).bin?.tsmpirun;
    if (bin && existsSync(join(ROOT, bin))) return join(ROOT, bin);
  } catch { /* fall through */ }
  return join(ROOT, 'dist', 'launcher', 'bin.js');
})();

/** The command and arguments that run tsmpirun with `args`. */
export function tsmpirun(args: string[]): [string, string[]] {
  return LAUNCHER.endsWith('.js') ? [process.execPath, [LAUNCHER, ...args]] : [LAUNCHER, args];
}

/** How tsmpirun runs a job's ranks on one host (`--ranks`). */
export type RanksMode = 'threads' | 'processes';

export interface CommandJobOptions {
  /**
   * Passed to tsmpirun as `--ranks`; processes unless set: the groups that compare tsmpi with the raw-socket
   * floor measure ranks as processes (sockets against sockets); the openmpi group sets it for both modes.
   */
  ranks?: RanksMode;
  /** More options of tsmpirun itself (e.g. --profile), before -np. */
  launcherArgs?: string[];
}

/**
 * A job fed one JSON command per line on its stdin, answering each with a `RESULT {json}` line on its
 * stdout; other lines go to the log, prefixed with `label`. The tsmpi jobs below, and the mpi4py job of
 * the `openmpi` group (bench/openmpi.ts), speak the same protocol.
 */
export class LineJob {
  private readonly child: ChildProcess;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly exited: Promise<number | null>;

  constructor(label: string, command: string, args: string[]) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w('EXIT');
      resolve(code);
    }));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line.startsWith('RESULT ')) this.waiting.shift()?.(line.slice(7));
      else log(`  [${label}] ${line}`);
    });
  }

  run<T>(cmd: object): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.push((line) => (line === 'EXIT' ? reject(new Error('benchmark job ended early')) : resolve(JSON.parse(line) as T)));
      this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  async close(): Promise<void> {
    this.child.stdin!.end(`${JSON.stringify({ kind: 'quit', op: 'quit' })}\n`);
    const code = await this.exited;
    if (code !== 0) log(`bench: a benchmark job exited with ${code}`);
  }
}

/** `tsmpirun -np N` of one of the programs in ranks/ (bench/ranks/serve.ts's command loop). */
export class CommandJob extends LineJob {
  constructor(np: number, program: string, env: Record<string, string> = {}, options: CommandJobOptions = {}) {
    const xs = Object.entries(env).flatMap(([k, v]) => ['-x', `${k}=${v}`]);
    const ranks = ['--ranks', options.ranks ?? 'processes'];
    super(program, ...tsmpirun([...ranks, ...(options.launcherArgs ?? []), '-np', String(np), ...xs, join(HERE, 'ranks', `${program}.js`)]));
  }
}
