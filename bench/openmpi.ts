// Open MPI and mpi4py for the benchmark: finding them, installing them (--with-openmpi), and running
// them. The `auc` group builds bench/auc.c with Open MPI's mpicc; the `openmpi` group runs
// bench/mpi4py/serve.py, the mpi4py twin of ranks/p2p.ts and ranks/coll.ts, under mpirun.openmpi.
//
// What is looked for: `mpirun.openmpi` on PATH (Debian's openmpi-bin names it so; the generic `mpirun`
// may be MPICH's, which the test suite uses) and a Python with mpi4py and numpy: /usr/bin/python3, where
// Debian's python3-mpi4py and python3-numpy install (the `python3` on PATH may be another one), or
// BENCH_PYTHON (not TSMPI_…: the ranks refuse TSMPI_ variables they do not know).
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { LineJob, ROOT } from './job.js';
import { log } from './lib.js';

export const MPIRUN = 'mpirun.openmpi';
export const PYTHON = process.env.BENCH_PYTHON || '/usr/bin/python3';
export const SERVE_PY = join(ROOT, 'bench', 'mpi4py', 'serve.py');
/** What --with-openmpi installs with apt-get: Open MPI for auc.c, mpi4py and numpy for serve.py. */
export const OPENMPI_PACKAGES = ['openmpi-bin', 'libopenmpi-dev', 'python3-mpi4py', 'python3-numpy'];

export function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The current target of a Debian alternative (e.g. mpirun → /usr/bin/mpirun.mpich), if any. */
function alternativeOf(name: string): string | undefined {
  const r = spawnSync('update-alternatives', ['--query', name], { encoding: 'utf8' });
  return r.status === 0 ? /^Value: (.+)$/m.exec(r.stdout)?.[1] : undefined;
}

/** Whether PYTHON imports mpi4py and numpy (without starting MPI). */
export function hasMpi4py(): boolean {
  return spawnSync(PYTHON, ['-c', 'import mpi4py, numpy'], { stdio: 'ignore' }).status === 0;
}

let installed = false;

/**
 * Installs Open MPI, mpi4py and numpy with apt-get when one of them is missing (once per run). Installing
 * Open MPI re-points the generic mpicc/mpirun to it (Debian alternatives, higher priority than MPICH's);
 * whatever they pointed at before is put back, so nothing else on the machine changes MPI.
 */
export function installOpenMpi(): void {
  if (installed || (which('mpicc.openmpi') && which(MPIRUN) && hasMpi4py())) return;
  installed = true;
  log(`bench: installing Open MPI and mpi4py (apt-get install ${OPENMPI_PACKAGES.join(' ')})…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const before = ['mpi', 'mpirun'].map((name) => [name, alternativeOf(name)] as const);
  // apt's output goes to stderr with the progress, so stdout stays the table.
  const stdio: ('ignore' | number)[] = ['ignore', 2, 2];
  spawnSync('apt-get', ['update'], { stdio, env });
  spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...OPENMPI_PACKAGES], { stdio, env });
  for (const [name, value] of before) {
    if (value && alternativeOf(name) !== value) spawnSync('update-alternatives', ['--set', name, value], { stdio: 'ignore' });
  }
}

/**
 * `mpirun.openmpi` running `args` on `np` ranks: --allow-run-as-root as root, --oversubscribe where
 * the ranks outnumber the cores, --bind-to none (Open MPI binds ranks to cores by default for np ≤ 2;
 * tsmpi pins nothing, so neither side does).
 */
export function mpirun(np: number, args: string[]): [string, string[]] {
  return [MPIRUN, [
    ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : []),
    ...(np > availableParallelism() ? ['--oversubscribe'] : []),
    '--bind-to', 'none', '-np', String(np), ...args,
  ]];
}

/**
 * Whether the openmpi group can run: mpirun.openmpi starts PYTHON on one rank, which loads mpi4py and
 * finds Open MPI behind it. Returns what it found ("Open MPI v4.1.4, mpi4py 3.1.4"), or undefined and
 * logs why not.
 */
export function findMpi4py(): string | undefined {
  if (!which(MPIRUN)) { log(`bench: no ${MPIRUN} on PATH`); return undefined; }
  if (!hasMpi4py()) { log(`bench: ${PYTHON} has no mpi4py or numpy`); return undefined; }
  const r = spawnSync(...mpirun(1, [PYTHON, '-c', "import mpi4py; from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0].split(',')[0], '/ mpi4py', mpi4py.__version__)"]), { encoding: 'utf8', timeout: 60_000 });
  const found = r.stdout?.trim() ?? '';
  if (r.status !== 0 || !/open mpi/i.test(found)) {
    log(`bench: ${MPIRUN} ${PYTHON} with mpi4py did not run as Open MPI (exit ${r.status}): ${found || r.stderr?.trim()}`);
    return undefined;
  }
  return found;
}

/** bench/mpi4py/serve.py under mpirun.openmpi on `np` ranks: the same command protocol as CommandJob. */
export class Mpi4pyJob extends LineJob {
  constructor(np: number) {
    super(`mpi4py -np ${np}`, ...mpirun(np, [PYTHON, SERVE_PY]));
  }
}
