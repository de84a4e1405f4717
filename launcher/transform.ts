// Turns the user's script into one ES module that every rank loads: TypeScript is transformed and
// the script's own local modules bundled, once per job rather than once per rank (launch time is
// a feature). Packages stay external and are imported from where the script would find them; the
// import of 'tsmpi' always resolves to the runtime of this tsmpirun, so launcher and ranks speak
// the same protocol. `import.meta.url` (and dirname/filename) keep meaning the source file each
// module came from, so a script can still read files that sit beside it.
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Message, type Plugin } from 'esbuild';

export const RUNTIME_ENTRY = fileURLToPath(new URL('../runtime/index.js', import.meta.url));

const LOADERS: Record<string, 'ts' | 'js'> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.cjs': 'js' };

export class ScriptCompileError extends Error {
  constructor(readonly details: string) {
    super(details);
  }
}

function keepPackagesExternal(): Plugin {
  return {
    name: 'tsmpi-externals',
    setup(b) {
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

/** Writes the job's bundle of `script` to `outfile`. Throws ScriptCompileError with readable details. */
export async function bundleScript(script: string, outfile: string): Promise<void> {
  try {
    await build({
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
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    throw new ScriptCompileError(errors ? formatMessages(errors) : String(e));
  }
}
