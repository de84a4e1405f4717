// Our one-file bundles (dist/tsmpi-start.cjs with dist/tsmpi-runtime.cjs, dist/tsmpirun.js with
// dist/tsmpirun-main.cjs; built by launcher/transform.ts): whether one is older than what it was made
// of, and loading one from V8's code cache.
//
// Every rank is a fresh Node process that would otherwise parse and compile the same ~300 KB of
// JavaScript (ws, msgpackr, the runtime) before it can join; a rank's start-up is CPU on a machine whose
// cores the other ranks are starting on too. Node 20 has no compile cache for modules
// (module.enableCompileCache is Node 22), so a bundle is compiled as a vm.Script with `cachedData`, the
// way v8-compile-cache does it.
//
// The cache entry is written by each process that misses it, once start-up code has run (so it
// also holds the functions compiled lazily), under the user's cache directory. Its key covers the
// bundle's path, size, modification time and inode and Node's version (cacheFileFor); V8 itself rejects data made by
// another V8 or with other flags (the process then compiles as usual and writes a fresh entry). Anything
// that goes wrong with the cache only costs the compile it would have saved.
//
// Every cache directory under tsmpiCacheDir() keeps only its most recently used entries (writeCacheFile
// prunes, touchCacheFile marks a hit): a rebuilt bundle, a script in a fresh temporary folder or a
// changed certificate file each make a new entry, and nothing else would ever remove the old ones.
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Script } from 'node:vm';

/** tsmpi's directory under the user's cache directory (job bundles, code caches). */
export function tsmpiCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsmpi');
}

/**
 * Whether `bundle` is missing or older than one of the inputs its manifest lists (paths relative to the
 * bundle's folder; an input that no longer exists does not count).
 */
export function bundleStale(bundle: string, manifest = bundle.replace(/\.js$/, '.inputs.json')): boolean {
  try {
    const built = statSync(bundle).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(manifest, 'utf8')) as { inputs: string[] };
    const dir = dirname(bundle);
    for (const input of inputs) {
      let mtime: number;
      try { mtime = statSync(resolve(dir, input)).mtimeMs; } catch { continue; }
      if (mtime > built) return true;
    }
    return false;
  } catch {
    return true;
  }
}

export interface CachedModule {
  readonly exports: Record<string, unknown>;
  /** The compile was skipped: V8 accepted the cached code. */
  readonly fromCache: boolean;
  /** Writes the code cache if this load could not use one; call once start-up code has run. */
  storeCache(): void;
}

/**
 * The file under `kind` in the cache directory for `file` as it is now: its path, size, modification
 * time and inode, and this Node's version and architecture, name the entry.
 */
export function cacheFileFor(kind: string, file: string, extension: string): string {
  const st = statSync(file);
  const key = createHash('sha256')
    .update(`${file}\0${st.size}\0${st.mtimeMs}\0${st.ino}\0${process.version}\0${process.arch}`)
    .digest('hex')
    .slice(0, 32);
  return join(tsmpiCacheDir(), kind, `${key}.${extension}`);
}

/**
 * Writes a cache entry whole: processes writing the same entry at once (ranks starting together, on
 * one host or several sharing a home directory) each rename their own complete file into place. Then,
 * given `keep` (once an entry's last file is written), the directory keeps its `keep` most recently used
 * files (by modification time; see touchCacheFile).
 */
export function writeCacheFile(path: string, data: string | Uint8Array, keep?: number): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${hostname()}.${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
  if (keep !== undefined) pruneCacheDir(dir, keep);
}

/** How stale a used entry's modification time may get before touchCacheFile renews it. */
const TOUCH_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Marks a cache entry as used, so that pruning keeps it: renews its modification time, at most once a
 * day (a write per job would be a cost on a shared home directory).
 */
export function touchCacheFile(path: string): void {
  try {
    if (Date.now() - statSync(path).mtimeMs < TOUCH_AFTER_MS) return;
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // gone or read-only: pruning may take it, which costs one rebuild
  }
}

/** Deletes all but the `keep` newest files of `dir` (another process may be pruning it too). */
function pruneCacheDir(dir: string, keep: number): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  if (names.length <= keep) return;
  const files: { path: string; mtimeMs: number }[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      files.push({ path, mtimeMs: statSync(path).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  files.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { path } of files.slice(keep)) {
    try {
      unlinkSync(path);
    } catch {
      // removed meanwhile
    }
  }
}

/** Code cache entries kept: up to three per installed tsmpi build in use (runtime, launcher, tsmpi/futures), ~0.3 MB each. */
const CODE_CACHE_ENTRIES_KEPT = 32;

/** Runs the CommonJS file `file` (as `require` would, once) with a code cache. */
export function loadWithCodeCache(file: string): CachedModule {
  const source = readFileSync(file, 'utf8');
  let cacheFile: string | undefined;
  let cachedData: Buffer | undefined;
  try {
    cacheFile = cacheFileFor('v8', file, 'bin');
    cachedData = readFileSync(cacheFile);
  } catch {
    // no entry yet (or no cache directory): compile
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} as Record<string, unknown> };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  if (usable) touchCacheFile(cacheFile!);
  return {
    exports: module.exports,
    fromCache: usable,
    storeCache() {
      if (usable || cacheFile === undefined) return;
      try {
        writeCacheFile(cacheFile, script.createCachedData(), CODE_CACHE_ENTRIES_KEPT);
      } catch {
        // a read-only or full cache directory: the next rank compiles too
      }
    },
  };
}
