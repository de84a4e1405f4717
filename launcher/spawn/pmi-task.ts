// tsmpirun started by a PMI launcher as one of its tasks — `srun --mpi=pmi2 -n 4 tsmpirun prog.ts`,
// `mpiexec -n 4 tsmpirun prog.ts` — has no ranks to start: the task is one rank. It bundles the script
// (the bundle cache makes the other tasks' bundling a copy; cache files appear by rename, so concurrent
// tasks never read half of one) into a private 0700 directory and runs the bundle in this very process;
// the runtime joins the job through PMI (runtime/env/join-pmi.ts) and removes the directory as soon as
// the bundle is loaded, so even the SIGKILL with which srun ends an aborted step leaves nothing behind.
//
// In-process matters: the launcher sees the rank itself as its task, so an exit code reaches it directly
// (Hydra combines its tasks' exit statuses; a tsmpirun in between would be killed on the abort before it
// could pass its child's code on), and nothing stands between the launcher's signals and the rank. The
// process ends when the program does, with the program's exit status: runAsPmiTask never resolves (bin.ts
// would exit at once), and process.exitCode is set to 0 first, so that Node's "unsettled top-level await"
// status (13) does not replace it. With --node-arg the rank needs a node of its own: it then runs as a
// child that inherits the PMI descriptor, and tsmpirun exits with its status.
import { spawn } from 'node:child_process';
import { existsSync, fstatSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LaunchOptions } from '../options.js';
import { ScriptCompileError, bundleScript } from '../transform.js';
import { importModule } from '../import-module.js';
import { observeTwins } from '../observe.js';

const SETPRIV = '/usr/bin/setpriv';

/** Started as a task of a PMI launcher (and not as a rank of tsmpirun). */
export function isPmiTask(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.PMI_FD || env.PMI_PORT) && !env.TSMPI_CONTROL;
}

/**
 * npx (npm exec) does not pass inherited descriptors on to the command it runs, so PMI_FD may name a
 * closed descriptor: say so instead of failing deep inside the PMI client. (npx may also have reused the
 * number for a descriptor of its own; the runtime's PMI error then carries the same hint.)
 */
function pmiDescriptorProblem(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.PMI_FD) return undefined;
  try {
    if (fstatSync(Number(env.PMI_FD)).isSocket()) return undefined;
  } catch {
    // closed
  }
  return `PMI_FD=${env.PMI_FD} is not an open socket in this process, so it cannot reach the PMI launcher `
    + '(npx closes the descriptors its command inherits). Start tsmpirun without npx, e.g. '
    + 'srun --mpi=pmi2 -n 4 ./node_modules/.bin/tsmpirun prog.ts (with mpiexec, -pmi-port also works through npx)';
}

export async function runAsPmiTask(options: LaunchOptions, say: (line: string) => void): Promise<number> {
  const problem = pmiDescriptorProblem(process.env);
  if (problem) {
    say(`tsmpirun: ${problem}`);
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsmpi-'));
  let bundle: string;
  try {
    bundle = await bundleScript(options.script, dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    if (e instanceof ScriptCompileError) {
      say(`tsmpirun: cannot compile ${options.script}:\n${e.details}`);
      return 1;
    }
    throw e;
  }
  if (options.nodeArgs.length > 0) return runAsChild(options, dir, bundle, say);
  return runInProcess(options, dir, bundle, say);
}

async function runInProcess(options: LaunchOptions, dir: string, bundle: string, say: (line: string) => void): Promise<number> {
  Object.assign(process.env, options.env, observeTwins(options.observe), { TSMPI_SCRIPT: options.script, TSMPI_BUNDLE_DIR: dir });
  process.argv = [process.argv[0]!, options.script, ...options.scriptArgs];
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  process.exitCode = 0;
  process.setSourceMapsEnabled(true); // what --enable-source-maps does for tsmpirun's own ranks
  try {
    await importModule(pathToFileURL(bundle).href);
  } catch (e) {
    // The program's top level threw. Once the runtime is loaded its handler reports it and aborts the
    // job (as for any uncaught exception); before that (e.g. a module that cannot be found) we say it.
    if (process.listenerCount('uncaughtException') > 0) {
      (process.emit as (event: string, ...args: unknown[]) => boolean)('uncaughtException', e, 'uncaughtException');
    } else {
      say(`tsmpirun: ${(e as Error)?.stack ?? String(e)}`);
    }
    return 1;
  }
  // The program's top level is done; whatever it still does keeps the process alive, and the process
  // exits when the program's event loop is empty, with its exit status.
  return new Promise<number>(() => {});
}

async function runAsChild(options: LaunchOptions, dir: string, bundle: string, say: (line: string) => void): Promise<number> {
  try {
    const nodeArgv = ['--enable-source-maps', ...options.nodeArgs, bundle, ...options.scriptArgs];
    // The PMI descriptor goes to the child at the same number (it is the child that speaks PMI).
    const stdio: ('inherit' | 'ignore' | number)[] = ['inherit', 'inherit', 'inherit'];
    const fd = Number(process.env.PMI_FD);
    if (Number.isInteger(fd) && fd > 2 && fd < 1024) {
      while (stdio.length < fd) stdio.push('ignore');
      stdio.push(fd);
    }
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, ...observeTwins(options.observe), TSMPI_SCRIPT: options.script, TSMPI_BUNDLE_DIR: dir };
    const child = existsSync(SETPRIV)
      ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...nodeArgv], { stdio, env })
      : spawn(process.execPath, nodeArgv, { stdio, env });
    const forward = (signal: NodeJS.Signals) => {
      try { child.kill(signal); } catch { /* gone */ }
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
    return await new Promise<number>((resolve) => {
      child.on('error', (e) => {
        say(`tsmpirun: cannot start node: ${e.message}`);
        resolve(127);
      });
      child.on('exit', (code, signal) => resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
