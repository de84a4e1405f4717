// Unit tests of runtime/env/bundles.ts: a CommonJS file loaded twice compiles once and runs from
// V8's cached code the second time, with the same exports; a changed file gets a fresh entry, and a
// cache directory that cannot be written costs nothing but the cache. bundleStale compares a bundle
// with the inputs its manifest lists. A cache directory keeps only its most recently used entries.
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleStale, loadWithCodeCache, touchCacheFile, tsmpiCacheDir, writeCacheFile } from '../../runtime/env/bundles.js';

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

describe('cache directories keep their most recently used entries', () => {
  const DAY_S = 24 * 60 * 60;
  /** Writes entry `name`, then dates it `ageDays` back (its last use). */
  function entryUsedDaysAgo(cache: string, name: string, ageDays: number, keep: number): string {
    const path = join(cache, name);
    writeCacheFile(path, name, keep);
    const when = Date.now() / 1000 - ageDays * DAY_S;
    utimesSync(path, when, when);
    return path;
  }

  it('a write removes the least recently used files beyond the limit, never the new one', () => {
    const cache = join(tsmpiCacheDir(), 'kind');
    for (let i = 0; i < 6; i++) entryUsedDaysAgo(cache, `old-${i}`, 10 + i, 100);
    expect(readdirSync(cache)).toHaveLength(6);
    writeCacheFile(join(cache, 'new'), 'x', 4);
    expect(readdirSync(cache).sort()).toEqual(['new', 'old-0', 'old-1', 'old-2']);
  });

  it('an entry marked as used survives pruning; a fresh one is not rewritten by the mark', () => {
    const cache = join(tsmpiCacheDir(), 'kind');
    const used = entryUsedDaysAgo(cache, 'used-long-ago', 30, 100);
    for (let i = 0; i < 3; i++) entryUsedDaysAgo(cache, `recent-${i}`, 1 + i, 100);
    touchCacheFile(used);
    expect(Date.now() - statSync(used).mtimeMs).toBeLessThan(60_000);
    writeCacheFile(join(cache, 'new'), 'x', 3);
    expect(readdirSync(cache).sort()).toEqual(['new', 'recent-0', 'used-long-ago']);

    const fresh = entryUsedDaysAgo(cache, 'fresh', 0.5, 100);
    const before = statSync(fresh).mtimeMs;
    touchCacheFile(fresh); // used within the day: left as it is
    expect(statSync(fresh).mtimeMs).toBe(before);
    touchCacheFile(join(cache, 'missing')); // nothing to mark: no error
  });

  it('a code cache hit marks the entry as used', () => {
    const file = writeModule('touched.cjs', 7);
    loadWithCodeCache(file).storeCache();
    const v8 = join(tsmpiCacheDir(), 'v8');
    const [entry] = readdirSync(v8);
    const longAgo = Date.now() / 1000 - 30 * DAY_S;
    utimesSync(join(v8, entry!), longAgo, longAgo);
    expect(loadWithCodeCache(file).fromCache).toBe(true);
    expect(Date.now() - statSync(join(v8, entry!)).mtimeMs).toBeLessThan(60_000);
  });
});
