// The two forms of a job bundle (launcher/transform.ts, BundleForm). A program that needs no module
// syntax once bundled runs as a script (main.cjs), anything else as an ES module (main.mjs); the
// program must not be able to tell, apart from what it is not meant to look at. The fixture
// test/fixtures/forms/observe.ts prints what its top level sees and which bundle file its rank runs;
// observe-module.ts is the same program kept in the module form by an export. Also: a program that
// imports packages, one of them an ES module only, takes the module form and runs; import.meta's
// location is replaced in code only; the bundle cache notices an edit that keeps size and time.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkThenNothingLeft, disposeAllJobs, fixture, linesOf, runJob } from '../helpers/job.js';

const OBSERVE = fixture('forms/observe.ts');
const OBSERVE_MODULE = fixture('forms/observe-module.ts');
/** The same program in each form (the table of the tests that run both). */
const BOTH_FORMS: [string, string][] = [['script', OBSERVE], ['module', OBSERVE_MODULE]];

afterEach(disposeAllJobs);
afterAll(disposeAllJobs);

/** `PREFIX rank rest` lines of a job's stdout, as rest by rank. */
function byRank(stdout: string, prefix: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const line of linesOf(stdout)) {
    const m = new RegExp(`^${prefix} (\\d+) (.*)$`).exec(line);
    if (m) found.set(Number(m[1]), m[2]!);
  }
  return found;
}

/** The line of observe.ts that throws in the `throw` mode (1-based). */
function throwingLine(): number {
  return readFileSync(OBSERVE, 'utf8').split('\n').findIndex((l) => l.includes('throw new Error(')) + 1;
}

describe('script and module forms of the job bundle', () => {
  const seen = new Map<string, Map<number, string>>();

  it.each([
    ['script', OBSERVE, 'main.cjs'],
    ['module', OBSERVE_MODULE, 'main.mjs'],
  ])('%s form: the program runs from %s, with its arguments', async (form, script, file) => {
    const run = await runJob({ np: 3, script, args: ['a', 'b c'] });
    await checkThenNothingLeft(run, async () => {
      const why = run.job.describe();
      expect(run.code, why).toBe(0);
      expect(run.stderr, why).toBe('');
      expect([...byRank(run.stdout, 'FORM')].sort(), why).toEqual([[0, file], [1, file], [2, file]]);
      const sees = byRank(run.stdout, 'SEES');
      expect(sees.size, why).toBe(3);
      for (const [, json] of sees) {
        const s = JSON.parse(json) as Record<string, unknown>;
        expect(s, why).toMatchObject({
          thisAtTopLevel: 'undefined',
          strictFunctions: true,
          moduleType: 'undefined',
          exportsType: 'undefined',
          filenameType: 'undefined',
          dirnameType: 'undefined',
          metaUrl: 'observe.ts',
          defaultImport: 'function',
          namespaceImport: 'function',
          dynamicImportSame: true,
          awaited: 6,
          args: ['a', 'b c'],
        });
      }
      seen.set(form, sees);
    });
  });

  it('both forms see the same, except for the script name', () => {
    expect(seen.size).toBe(2);
    const script = seen.get('script')!;
    const module = seen.get('module')!;
    for (const rank of [0, 1, 2]) {
      const s = JSON.parse(script.get(rank)!) as Record<string, unknown>;
      const m = JSON.parse(module.get(rank)!) as Record<string, unknown>;
      expect(s.script).toBe('observe.ts');
      expect(m.script).toBe('observe-module.ts');
      expect({ ...s, script: undefined }).toEqual({ ...m, script: undefined });
    }
  });

  it.each(BOTH_FORMS)('%s form: an error thrown at the top level after an await ends the job with its stack at the source line', async (_form, script) => {
    const run = await runJob({ np: 3, script, args: ['throw'] });
    await checkThenNothingLeft(run, async () => {
      const why = run.job.describe();
      expect(run.code, why).toBe(1);
      const err = linesOf(run.stderr);
      expect(err, why).toContain('[rank 1] uncaught exception: Error: thrown at the top level after an await');
      expect(err.some((l) => new RegExp(`^\\[rank 1\\]\\s+at .*observe\\.ts:${throwingLine()}:\\d+\\)?$`).test(l)), why).toBe(true);
      expect(err.at(-1), why).toBe('tsmpirun: rank 1 threw an uncaught Error: thrown at the top level after an await');
    });
  });

  it.each(BOTH_FORMS)('%s form: a top-level await that nothing can settle ends the rank with status 13, as Node does', async (_form, script) => {
    const run = await runJob({ np: 2, script, args: ['unsettled'] });
    await checkThenNothingLeft(run, async () => {
      const why = run.job.describe();
      expect(run.code, why).toBe(13);
      expect(linesOf(run.stderr).some((l) => /^tsmpirun: rank [01] exited with code 13\b/.test(l)), why).toBe(true);
    });
  });
});

describe('a program that imports packages', () => {
  it('takes the module form and runs, with an ES-module-only package and a CommonJS one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmpi-test-packages-'));
    try {
      const esmOnly = join(dir, 'node_modules', 'esm-only');
      mkdirSync(esmOnly, { recursive: true });
      writeFileSync(join(esmOnly, 'package.json'), JSON.stringify({ name: 'esm-only', type: 'module', exports: './index.js' }));
      writeFileSync(join(esmOnly, 'index.js'), 'export const greeting = "esm-only";\n');
      const commonJs = join(dir, 'node_modules', 'common-js');
      mkdirSync(commonJs, { recursive: true });
      writeFileSync(join(commonJs, 'package.json'), JSON.stringify({ name: 'common-js', main: 'index.js' }));
      writeFileSync(join(commonJs, 'index.js'), 'exports.greeting = "common-js";\n');
      writeFileSync(join(dir, 'uses-packages.ts'), [
        `import { readFileSync } from 'node:fs';`,
        `import { greeting as fromEsm } from 'esm-only';`,
        `import { greeting as fromCommonJs } from 'common-js';`,
        `import { COMM_WORLD as comm, SUM } from 'tsmpi';`,
        // The bundle is node's script argument, or (ranks as threads) named in the thread host's argument.
        `const file = /main\\.[cm]js/.exec(readFileSync('/proc/self/cmdline', 'latin1'))?.[0] ?? '';`,
        `const total = await comm.allreduce(1, SUM);`,
        `console.log(\`PACKAGES \${comm.rank} \${fromEsm} \${fromCommonJs} \${total} \${file.slice(-8)}\`);`,
      ].join('\n'));
      const run = await runJob({ np: 2, script: 'uses-packages.ts', cwd: dir });
      await checkThenNothingLeft(run, async () => {
        const why = run.job.describe();
        expect(run.code, why).toBe(0);
        expect([...byRank(run.stdout, 'PACKAGES')].sort(), why).toEqual([
          [0, 'esm-only common-js 2 main.mjs'],
          [1, 'esm-only common-js 2 main.mjs'],
        ]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what tsmpirun changes in a program', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsmpi-test-transform-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('import.meta.url, dirname and filename become each module\'s own source location in code, never inside strings or property names', async () => {
    writeFileSync(join(dir, 'located.ts'), 'export const located = [import.meta.url, import.meta.dirname, import.meta.filename];\n');
    writeFileSync(join(dir, 'meta.ts'), [
      `import { readFileSync } from 'node:fs';`,
      `import { COMM_WORLD as comm } from 'tsmpi';`,
      `import { located } from './located.js';`,
      `const names = { 'import.meta.url': 1, 'import.meta.dirname': 2, import: { meta: { filename: 3 } } };`,
      // The bundle is node's script argument, or (ranks as threads) named in the thread host's argument.
      `const file = /main\\.[cm]js/.exec(readFileSync('/proc/self/cmdline', 'latin1'))?.[0] ?? '';`,
      `console.log(JSON.stringify({`,
      `  rank: comm.rank, form: file.slice(-8),`,
      `  texts: ['import.meta.url', "import.meta.dirname", \`import.meta.filename\`, \`\${'x'} import.meta.url\`],`,
      `  keys: Object.keys(names), nested: names.import.meta.filename,`,
      `  own: [import.meta.url, import.meta.dirname, import.meta.filename], located,`,
      `}));`,
    ].join('\n'));
    const run = await runJob({ np: 2, script: join(dir, 'meta.ts') });
    await checkThenNothingLeft(run, async () => {
      const why = run.job.describe();
      expect(run.code, why).toBe(0);
      expect(run.stderr, why).toBe('');
      const reports = linesOf(run.stdout).map((l) => JSON.parse(l) as { rank: number }).sort((a, b) => a.rank - b.rank);
      expect(reports, why).toEqual([0, 1].map((rank) => ({
        rank,
        // Strings that merely mention import.meta do not keep the program from running as a script.
        form: 'main.cjs',
        texts: ['import.meta.url', 'import.meta.dirname', 'import.meta.filename', 'x import.meta.url'],
        keys: ['import.meta.url', 'import.meta.dirname', 'import'],
        nested: 3,
        own: [pathToFileURL(join(dir, 'meta.ts')).href, dir, join(dir, 'meta.ts')],
        located: [pathToFileURL(join(dir, 'located.ts')).href, dir, join(dir, 'located.ts')],
      })));
    });
  });

  it('an edit that keeps a module\'s size and modification time still reaches the next job (bundles are cached by content)', async () => {
    const module = join(dir, 'version.ts');
    const script = join(dir, 'edited.ts');
    // Whole seconds, so that setting the time back restores it exactly.
    const mtime = Math.floor(Date.now() / 1000) - 60;
    const write = (version: string) => {
      writeFileSync(module, `export const version = '${version}';\n`);
      utimesSync(module, mtime, mtime);
    };
    writeFileSync(script, `import { COMM_WORLD as comm } from 'tsmpi';\nimport { version } from './version.js';\nconsole.log(\`VERSION \${comm.rank} \${version}\`);\n`);
    const versions: string[][] = [];
    const sizesAndTimes: number[][] = [];
    for (const version of ['A', 'B']) {
      write(version);
      const { size, mtimeMs } = statSync(module);
      sizesAndTimes.push([size, mtimeMs]);
      const run = await runJob({ np: 2, script });
      await checkThenNothingLeft(run, () => expect(run.code, run.job.describe()).toBe(0));
      versions.push(linesOf(run.stdout).sort());
    }
    expect(sizesAndTimes[1]).toEqual(sizesAndTimes[0]);
    expect(versions).toEqual([['VERSION 0 A', 'VERSION 1 A'], ['VERSION 0 B', 'VERSION 1 B']]);
  });
});
