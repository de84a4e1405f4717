// tsmpi as a user gets it: `npm pack`'s tarball and a git URL, each installed into a project of its own
// outside the repository (under the system's temporary directory), where a strict TypeScript program type-
// checks against the shipped types and runs with the installed tsmpirun.
//
// The tarball is checked for what it holds: what a user needs and nothing else (no bench, no tests, no
// source map whose sources are missing, no runtime dependency the runtime does not use). The program
// type-checks twice: with module/moduleResolution NodeNext (an ES module project, as tsmpirun runs it),
// and with CommonJS/Node10, the settings of many existing projects (its module without top-level await,
// and without @types/node, since the shipped types must not need Node's). Installs prefer npm's cache,
// which `npm ci` filled with everything tsmpi depends on.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/command.js';
import { checkThenNothingLeft, disposeAllJobs, linesOf, REPO, runJob } from '../helpers/job.js';

const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
/**
 * One install or pack. The git URL install runs npm install (with tsmpi's devDependencies) and the build
 * inside npm: 35-50 s here alone; at a load of 20 on this 2-core machine it had not finished after 4 minutes.
 */
const INSTALL_TIMEOUT_MS = 600_000;
/** A test's limit: its commands' own, so that a command that overruns fails with what it printed. */
const TEST_TIMEOUT_MS = INSTALL_TIMEOUT_MS + 120_000;
const NPM_INSTALL = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

const scratch = mkdtempSync(join(tmpdir(), 'tsmpi-package-test-'));
afterEach(disposeAllJobs);
afterAll(async () => {
  await disposeAllJobs();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * npm run (npm test) describes the repository to its scripts through npm_* variables; an npm started
 * for another project must not take them for its own.
 */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|command$|config_local_prefix$)/.test(name)) delete env[name];
  }
  delete env.NODE_OPTIONS;
  return env;
}

function run(command: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<string> {
  return runCommand(command, args, { cwd, env: npmEnvironment(), timeoutMs });
}

/** A project of the user's own: an ES module package with nothing installed yet. */
function userProject(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2));
  return dir;
}

// The user's program: every call of a first program (objects, typed arrays without blocking, a collective,
// split, a Cartesian topology), in a module without top-level await, and the main module that prints it.
const EXCHANGE_TS = `import { ANY_SOURCE, Request, Status, SUM, type Comm } from 'tsmpi';

/** What this rank learns from its neighbours and from everyone, as one line. */
export async function exchange(comm: Comm): Promise<string> {
  const right = (comm.rank + 1) % comm.size;
  const left = (comm.rank + comm.size - 1) % comm.size;

  const sent = comm.send({ from: comm.rank, words: ['hello', 'world'] }, right, 1);
  const status = new Status();
  const message = await comm.recv<{ from: number; words: string[] }>(left, 1, status);
  await sent;

  const fromLeft = new Float64Array(2);
  const fromRight = new Float64Array(2);
  const receives = [comm.Irecv(fromLeft, left, 2), comm.Irecv(fromRight, ANY_SOURCE, 3)];
  const sends = [comm.Isend(Float64Array.of(comm.rank, 0.5), right, 2), comm.Isend(Float64Array.of(comm.rank, 0.25), left, 3)];
  const statuses = await Request.waitall(receives);
  await Request.waitall(sends);

  const total = await comm.allreduce(comm.rank, SUM);
  const half = await comm.split(comm.rank % 2);
  const ring = await comm.createCart([comm.size], [true]);
  const neighbours = ring?.shift(0, 1);
  return \`rank \${comm.rank}/\${comm.size}: \${message.words.join(' ')} from \${message.from} (source \${status.source}), \`
    + \`\${fromLeft.join(',')} and \${fromRight.join(',')} from \${statuses.map((s) => s.source).join(',')}, sum \${total}, \`
    + \`half of \${half?.size}, ring \${neighbours?.source}<-\${ring?.rank}->\${neighbours?.dest}\`;
}
`;
const MAIN_TS = `import { COMM_WORLD } from 'tsmpi';
import { exchange } from './exchange.js';

console.log(await exchange(COMM_WORLD));
`;

function expectedLines(size: number): string[] {
  return Array.from({ length: size }, (_, rank) => {
    const left = (rank + size - 1) % size, right = (rank + 1) % size;
    return `rank ${rank}/${size}: hello world from ${left} (source ${left}), ${left},0.5 and ${right},0.25 from ${left},${right}, `
      + `sum ${(size * (size - 1)) / 2}, half of ${rank % 2 === 0 ? Math.ceil(size / 2) : Math.floor(size / 2)}, ring ${left}<-${rank}->${right}`;
  }).sort();
}

const STRICT = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2022'] };

/** Writes the program and both compiler configurations into `project` and type-checks it with each. */
async function typeCheckUserProgram(project: string): Promise<void> {
  writeFileSync(join(project, 'src', 'exchange.ts'), EXCHANGE_TS);
  writeFileSync(join(project, 'src', 'main.ts'), MAIN_TS);
  // The main module prints with console, which @types/node declares: a user has it installed; here the
  // repository's copy stands in for it, so nothing is downloaded.
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...STRICT, module: 'NodeNext', moduleResolution: 'NodeNext', typeRoots: [join(REPO, 'node_modules', '@types')], types: ['node'] },
    include: ['src'],
  }));
  writeFileSync(join(project, 'tsconfig.commonjs.json'), JSON.stringify({
    compilerOptions: { ...STRICT, module: 'CommonJS', moduleResolution: 'Node10', types: [] },
    files: ['src/exchange.ts'],
  }));
  for (const config of ['tsconfig.json', 'tsconfig.commonjs.json']) await run(process.execPath, [TSC, '-p', config], project);
}

/**
 * Runs the program with the project's own tsmpirun (node_modules/.bin, as `npx tsmpirun` would), with
 * ranks as threads (the default) and as processes.
 */
async function runUserProgram(project: string, np: number): Promise<void> {
  const launcher = join(project, 'node_modules', '.bin', 'tsmpirun');
  for (const ranks of ['threads', 'processes']) {
    const result = await runJob({ launcher, np, script: 'src/main.ts', cwd: project, timeoutMs: 60_000, env: { TSMPI_RANKS: ranks } });
    await checkThenNothingLeft(result, () => {
      const why = `ranks as ${ranks}: ${result.job.describe(result)}`;
      expect(result.code, why).toBe(0);
      expect(result.stderr, why).toBe('');
      expect(linesOf(result.stdout).sort(), why).toEqual(expectedLines(np));
    });
  }
}

interface PackedFile { path: string }

describe('npm pack', () => {
  let tarball: string;
  let files: string[];
  let unpacked: string;

  beforeAll(async () => {
    const packDir = join(scratch, 'pack');
    mkdirSync(packDir);
    // dist/ is built (npm test builds first): prepare would rebuild it under the other test files' feet.
    const [packed] = JSON.parse(await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], REPO)) as
      { filename: string; files: PackedFile[] }[];
    tarball = join(packDir, packed!.filename);
    files = packed!.files.map((f) => f.path).sort();
    unpacked = join(scratch, 'unpacked');
    mkdirSync(unpacked);
    await run('tar', ['-xzf', tarball, '-C', unpacked], scratch);
  }, TEST_TIMEOUT_MS);

  it('holds what users need and nothing else', () => {
    const listing = files.join('\n');
    for (const needed of ['bin/tsmpirun', 'dist/tsmpirun.js', 'dist/tsmpi.js', 'dist/tsmpi-runtime.cjs', 'dist/runtime/index.d.ts',
      'dist/launcher/spawn/agent.js', 'examples/auc.ts', 'README.md', 'package.json']) {
      expect(files, listing).toContain(needed);
    }
    expect(files.filter((f) => /^(bench|test|dist\/bench|dist\/test)\//.test(f) || f.startsWith('tsconfig')), listing).toEqual([]);
    // A map is only worth shipping with the sources it points at.
    const root = join(unpacked, 'package');
    const missingSources = files.filter((f) => f.endsWith('.map')).flatMap((map) => {
      const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
      return sources.map((s) => resolve(root, dirname(map), s)).filter((s) => !existsSync(s)).map((s) => `${map} -> ${relative(root, s)}`);
    });
    expect(missingSources).toEqual([]);
  });

  it('depends only on what the runtime and the launcher use', () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['esbuild', 'msgpackr', 'ws', 'yargs']);
  });

  describe('installed into a project of its own', () => {
    let project: string;
    beforeAll(async () => {
      project = userProject('from-tarball');
      await run('npm', [...NPM_INSTALL, tarball], project, INSTALL_TIMEOUT_MS);
    }, TEST_TIMEOUT_MS);

    it('a strict program type-checks against the shipped types (NodeNext and CommonJS/Node10) and runs with the installed tsmpirun', async () => {
      await typeCheckUserProgram(project);
      await runUserProgram(project, 3);
    }, 120_000);

    it('the shipped declarations show no internals', () => {
      const comm = readFileSync(join(project, 'node_modules', 'tsmpi', 'dist', 'runtime', 'comm', 'comm.d.ts'), 'utf8');
      const library = readFileSync(join(project, 'node_modules', 'tsmpi', 'dist', 'runtime', 'library.d.ts'), 'utf8');
      const declarations = [/^\s*(readonly )?shared\b/m, /\bplanSplit\(/, /^\s*constructor\(/m, /^\s*protected /m, /\bEngine\b/, /\bnewCommShared\b/];
      expect(declarations.filter((internal) => internal.test(comm)), comm).toEqual([]);
      expect(library).not.toMatch(/\bjoinWorld\b/);
    });

    it('examples/diffusion2d.ts --png without pngjs says what to install, in one line', async () => {
      const launcher = join(project, 'node_modules', '.bin', 'tsmpirun');
      const script = join(project, 'node_modules', 'tsmpi', 'examples', 'diffusion2d.ts');
      const result = await runJob({ launcher, np: 2, script, args: ['--png', 'frames', '--time', '0.1'], cwd: project });
      await checkThenNothingLeft(result, () => {
        const why = result.job.describe(result);
        expect(result.code, why).toBe(2);
        expect(linesOf(result.stderr).filter((line) => line.includes('pngjs')), why).toEqual(['--png needs the pngjs package: npm install pngjs']);
        expect(result.stdout, why).toBe('');
        expect(existsSync(join(project, 'frames')), why).toBe(false);
      });
    });
  });
});

describe('npm install from a git URL', () => {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO, encoding: 'utf8' });
  const inGit = head.status === 0;
  if (!inGit) console.log('[package-install] skipped the git URL install: this copy of tsmpi is not a git work tree');

  it.skipIf(!inGit)('builds through prepare and gives a working tsmpirun (the committed HEAD)', async () => {
    const project = userProject('from-git');
    await run('npm', [...NPM_INSTALL, `git+file://${REPO}#${head.stdout.trim()}`], project, INSTALL_TIMEOUT_MS);
    const installed = join(project, 'node_modules', 'tsmpi');
    expect(readdirSync(join(installed, 'dist'))).toContain('tsmpirun.js');
    await typeCheckUserProgram(project);
    await runUserProgram(project, 2);
  }, TEST_TIMEOUT_MS);
});
