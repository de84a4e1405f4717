// Unit tests of runtime/env/bundles.ts: a CommonJS file loaded twice compiles once and runs from
// V8's cached code the second time, with the same exports; a changed file gets a fresh entry, and a
// cache directory that cannot be written costs nothing but the cache. bundleStale compares a bundle
// with the inputs its manifest lists.
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleStale, loadWithCodeCache, tsmpiCacheDir } from '../../runtime/env/bundles.js';

let dir: string;
let savedCacheHome: string | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsmpi-bundles-'));
  savedCacheHome = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = join(dir, 'cache');
});

afterEach(() => {
  if (savedCacheHome === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedCacheHome;
  rmSync(dir, { recursive: true, force: true });
});

/** A module big enough that V8 has something to cache, exporting `answer` and its own file name. */
function writeModule(name: string, answer: number): string {
  const file = join(dir, name);
  const helpers = Array.from({ length: 200 }, (_, i) => `function f${i}(x) { return x * ${i} + ${answer}; }`).join('\n');
  writeFileSync(file, `${helpers}\nexports.answer = f1(0);\nexports.file = __filename;\nexports.path = require('node:path').basename(__filename);\n`);
  return file;
}

describe('loadWithCodeCache', () => {
  it('compiles on the first load and runs from the cache on the next, with the same exports', () => {
    const file = writeModule('lib.cjs', 42);
    const first = loadWithCodeCache(file);
    expect(first.fromCache).toBe(false);
    expect(first.exports).toMatchObject({ answer: 42, file, path: 'lib.cjs' });
    first.storeCache();
    expect(readdirSync(join(tsmpiCacheDir(), 'v8'))).toHaveLength(1);

    const second = loadWithCodeCache(file);
    expect(second.fromCache).toBe(true);
    expect(second.exports).toMatchObject({ answer: 42, file, path: 'lib.cjs' });
  });

  it('does not run cached code for a changed file', () => {
    const file = writeModule('lib.cjs', 1);
    const first = loadWithCodeCache(file);
    first.storeCache();
    // Same size, new content, and a modification time that differs: a new key.
    writeModule('lib.cjs', 2);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const changed = loadWithCodeCache(file);
    expect(changed.fromCache).toBe(false);
    expect(changed.exports.answer).toBe(2);
  });

  it('loads without a usable cache directory', () => {
    const file = writeModule('lib.cjs', 7);
    writeFileSync(join(dir, 'cache'), 'a file where the directory should be');
    const loaded = loadWithCodeCache(file);
    expect(loaded.exports.answer).toBe(7);
    expect(() => loaded.storeCache()).not.toThrow();
    expect(loadWithCodeCache(file).fromCache).toBe(false);
  });
});

describe('bundleStale', () => {
  it('is false while no listed input is newer, true once one is or the manifest is missing', () => {
    const bundle = join(dir, 'out.js');
    const input = join(dir, 'in.js');
    writeFileSync(input, 'input');
    writeFileSync(bundle, 'bundle');
    utimesSync(input, new Date(1_000_000), new Date(1_000_000));
    expect(bundleStale(bundle)).toBe(true); // no manifest yet
    writeFileSync(join(dir, 'out.inputs.json'), JSON.stringify({ inputs: ['in.js', 'gone.js'] }));
    expect(bundleStale(bundle)).toBe(false);
    utimesSync(input, new Date(), new Date(Date.now() + 60_000));
    expect(bundleStale(bundle)).toBe(true);
  });
});
