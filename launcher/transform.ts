// Turns the user's script into one ES module that every rank loads: TypeScript is transformed and
// the script's own local modules bundled, once per job rather than once per rank (launch time is
// a feature). Packages stay external and are imported from where the script would find them; the
// import of 'tsmpi' always resolves to the runtime of this tsmpirun, so launcher and ranks speak
// the same protocol. `import.meta.url` (and dirname/filename) keep meaning the source file each
// module came from, so a script can still read files that sit beside it.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Message, Plugin, PluginBuild } from 'esbuild';

export const RUNTIME_ENTRY = fileURLToPath(new URL('../runtime/index.js', import.meta.url));

/** Bundles are reused across jobs while every input file keeps its size and modification time. */
const CACHE_DIR = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsmpi', 'bundles');

interface CacheManifest {
  runtime: string;
  inputs: { path: string; size: number; mtimeMs: number }[];
}

const LOADERS: Record<string, 'ts' | 'js'> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.cjs': 'js' };

export class ScriptCompileError extends Error {
  constructor(readonly details: string) {
    super(details);
  }
}

function keepPackagesExternal(): Plugin {
  return {
    name: 'tsmpi-externals',
    setup(b: PluginBuild) {
      b.onResolve({ filter: /^tsmpi$/ }, () => ({ path: RUNTIME_ENTRY, external: true }));
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === 'tsmpi-resolving') return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const found = await b.resolve(args.path, {
          kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'tsmpi-resolving',
        });
        if (found.errors.length > 0) return { errors: found.errors };
        return { path: found.path, external: true };
      });
      b.onLoad({ filter: /\.[mc]?[jt]s$/ }, async (args) => {
        const ext = /\.[mc]?[jt]s$/.exec(args.path)![0];
        const source = await readFile(args.path, 'utf8');
        const url = pathToFileURL(args.path).href;
        const contents = source
          .replace(/\bimport\.meta\.url\b/g, JSON.stringify(url))
          .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(args.path))
          .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(args.path)));
        return { contents, loader: LOADERS[ext] ?? 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

function formatMessages(messages: Message[]): string {
  return messages.map((m) => {
    const where = m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ` : '';
    const line = m.location?.lineText ? `\n    ${m.location.lineText}` : '';
    return `${where}${m.text}${line}`;
  }).join('\n');
}

function cacheKey(script: string): string {
  return createHash('sha256').update(RUNTIME_ENTRY).update('\0').update(script).digest('hex').slice(0, 32);
}

function cachedBundle(script: string): string | undefined {
  const base = join(CACHE_DIR, cacheKey(script));
  try {
    const manifest = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as CacheManifest;
    if (manifest.runtime !== RUNTIME_ENTRY) return undefined;
    for (const input of manifest.inputs) {
      const st = statSync(input.path);
      if (st.size !== input.size || st.mtimeMs !== input.mtimeMs) return undefined;
    }
    return `${base}.mjs`;
  } catch {
    return undefined;
  }
}

function storeBundle(script: string, outfile: string, inputs: string[]): void {
  try {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
    const base = join(CACHE_DIR, cacheKey(script));
    const manifest: CacheManifest = {
      runtime: RUNTIME_ENTRY,
      inputs: inputs.map((path) => {
        const st = statSync(path);
        return { path, size: st.size, mtimeMs: st.mtimeMs };
      }),
    };
    // Rename makes each file appear whole, so a concurrent job never reads half of one.
    const tmp = `${base}.${process.pid}`;
    copyFileSync(outfile, `${tmp}.mjs`);
    renameSync(`${tmp}.mjs`, `${base}.mjs`);
    writeFileSync(`${tmp}.json`, JSON.stringify(manifest));
    renameSync(`${tmp}.json`, `${base}.json`);
  } catch {
    // A cache that cannot be written only costs the next job a rebuild.
  }
}

/** Writes the job's bundle of `script` to `outfile`. Throws ScriptCompileError with readable details. */
export async function bundleScript(script: string, outfile: string): Promise<void> {
  const cached = cachedBundle(script);
  if (cached) {
    try {
      copyFileSync(cached, outfile);
      return;
    } catch {
      // fall through to a fresh build
    }
  }
  // esbuild is loaded only when there is something to build: it starts a helper process.
  const { build } = await import('esbuild');
  try {
    const result = await build({
      absWorkingDir: '/',
      metafile: true,
      entryPoints: [script],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      sourcesContent: false,
      logLevel: 'silent',
      plugins: [keepPackagesExternal()],
    });
    const inputs = Object.keys(result.metafile.inputs).map((p) => (p.startsWith('/') ? p : `/${p}`));
    storeBundle(script, outfile, inputs);
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    throw new ScriptCompileError(errors ? formatMessages(errors) : String(e));
  }
}
