// Turns the user's script into one file that every rank loads (a script where the program allows,
// else an ES module: see BundleForm): TypeScript is transformed and the script's own local modules
// bundled, once per job rather than once per rank (launch time is a feature). Packages stay external
// and are imported from where the script would find them; the import of 'tsmpi' always resolves to
// the runtime of this tsmpirun, so launcher and ranks speak the same protocol. `import.meta.url` (and
// dirname/filename) keep meaning the source file each module came from, so a script can still read
// files that sit beside it.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BuildOptions, Message, Metafile, Plugin, PluginBuild } from 'esbuild';
import { bundleStale, touchCacheFile, tsmpiCacheDir, writeCacheFile } from '../runtime/env/bundles.js';
import { JOB_BUNDLE_FILES } from './spawn/agent-protocol.js';

/** `import.meta.url` as text, for the code this file writes into the two entries (dist/tsmpi.js, dist/tsmpirun.js). */
const OWN_URL = 'import.meta.url';

/**
 * The runtime, for ranks. dist/tsmpi-start.cjs loads dist/tsmpi-runtime.cjs, everything else of the
 * runtime (~70 modules plus ws and msgpackr) in one CommonJS file, from V8's code cache
 * (runtime/env/bundles.ts), and starts joining the job: its `runtime` is the promise of what
 * `import 'tsmpi'` gives. dist/tsmpi.js, the one small ES module that package.json `exports` points
 * at, awaits that promise; a job bundle in script form (bundleScript) calls `run` with the program.
 * Node's module cache makes dist/tsmpi-start.cjs one instance per process, so a rank never holds two
 * runtimes, whichever way it reaches them. Measured on this 2-core machine, a rank's import of the
 * runtime cost ~100 ms of CPU above a bare `node` as separate modules and ~38 ms as one ES module; now
 * a rank reaches its first line of user code after ~82 ms of CPU against ~97 ms before (a bare `node`:
 * ~58 ms). Built by `npm run build`, and rebuilt by tsmpirun when any of its inputs (dist/runtime/**,
 * ws, msgpackr) is newer, so `npx tsc -p .` alone never leaves jobs running a stale runtime.
 */
export const RUNTIME_ENTRY = fileURLToPath(new URL('../tsmpi.js', import.meta.url));
/** The runtime's CommonJS entry: loads the library, joins, runs a script-form bundle's program. */
const RUNTIME_START = fileURLToPath(new URL('../tsmpi-start.cjs', import.meta.url));
/** The rest of the runtime, loaded by RUNTIME_START. */
const RUNTIME_LIBRARY = fileURLToPath(new URL('../tsmpi-runtime.cjs', import.meta.url));
/** The modules tsc emits, which the library is made of. */
const RUNTIME_MODULES = fileURLToPath(new URL('../runtime/library.js', import.meta.url));
/**
 * tsmpi/futures for ranks (package.json `exports["./futures"]`): an ES module of the names of
 * runtime/futures/index.ts, which RUNTIME_START loads on first use from FUTURES_LIBRARY.
 */
export const FUTURES_ENTRY = fileURLToPath(new URL('../futures.js', import.meta.url));
/**
 * tsmpi/futures' modules in one CommonJS file, apart from the library: inside it they cost every rank
 * ~1.5–2 ms of start-up CPU (code cache included; 34 KB), used or not. The runtime modules they import
 * are the library's own instances (sharedRuntimeModules), so a rank has one Comm class, one
 * TsmpiError…, whichever way it reaches them.
 */
const FUTURES_LIBRARY = fileURLToPath(new URL('../tsmpi-futures.cjs', import.meta.url));
/** The modules tsc emits, which FUTURES_LIBRARY is made of. */
const FUTURES_MODULES = fileURLToPath(new URL('../runtime/futures/index.js', import.meta.url));
/**
 * The bundles' inputs, relative to their directory, the names RUNTIME_ENTRY exports and those
 * FUTURES_ENTRY exports: `{ inputs, exports, futuresExports }`.
 */
const RUNTIME_MANIFEST = RUNTIME_ENTRY.replace(/\.js$/, '.inputs.json');

/** Names the world adds to the library's exports (runtime/world.ts). */
const WORLD_EXPORTS = ['COMM_WORLD', 'COMM_SELF', 'finalize'];
/** The library's export of the runtime modules FUTURES_LIBRARY shares (runtime/library.ts). */
const SHARED_MODULES = 'sharedModules';
/** The library's exports that are not names of `import 'tsmpi'`. */
const LIBRARY_ONLY = ['joinWorld', SHARED_MODULES];

/** What `import 'tsmpi'` gives, given the library's exports: the world's names and the library's. */
function runtimeNames(libraryExports: readonly string[]): string[] {
  return [...WORLD_EXPORTS, ...libraryExports.filter((name) => !LIBRARY_ONLY.includes(name))];
}

function loadLibrary(libraryFile: string): Record<string, unknown> {
  return createRequire(import.meta.url)(libraryFile) as Record<string, unknown>;
}

function libraryExportsOf(libraryFile: string): string[] {
  return Object.keys(loadLibrary(libraryFile));
}

/**
 * Bundles tsmpi/futures' imports of other runtime modules as the library's instances of them
 * (`sharedModules`, which RUNTIME_START passes on), and refuses an import of any runtime module the
 * library does not share: futures is built on Comm only (ARCHITECTURE.md).
 */
function sharedRuntimeModules(libraryFile: string): Plugin {
  const runtimeDir = dirname(RUNTIME_MODULES);
  const shared = Object.keys(loadLibrary(libraryFile)[SHARED_MODULES] as object);
  return {
    name: 'tsmpi-shared-modules',
    setup(b: PluginBuild) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.namespace === 'tsmpi-shared') return { path: args.path, external: true };
        const path = relative(runtimeDir, resolve(args.resolveDir, args.path));
        if (path.startsWith(`futures${sep}`)) return undefined;
        if (shared.includes(path)) return { path, namespace: 'tsmpi-shared' };
        return { errors: [{ text: `tsmpi/futures imports runtime/${path}, which the library does not share with it (runtime/library.ts ${SHARED_MODULES}: ${shared.join(', ')})` }] };
      });
      b.onLoad({ filter: /.*/, namespace: 'tsmpi-shared' }, (args) => ({
        contents: `module.exports = require('./tsmpi-start.cjs').${SHARED_MODULES}[${JSON.stringify(args.path)}];`,
        loader: 'js',
      }));
    },
  };
}

/** The names tsmpi/futures exports (esbuild gives an ES module's names), given the library. */
async function futuresExportsOf(libraryFile: string): Promise<string[]> {
  const built = await loadEsbuild().build({
    stdin: { contents: `export * from ${JSON.stringify(FUTURES_MODULES)};`, resolveDir: dirname(FUTURES_LIBRARY), loader: 'js' },
    bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent',
    plugins: [sharedRuntimeModules(libraryFile)],
  });
  return Object.values(built.metafile.outputs)[0]!.exports;
}

/** The source of RUNTIME_START (bundled as CommonJS), for the library's exports. */
function runtimeStartSource(libraryExports: readonly string[]): string {
  const lines = [
    `import { join } from 'node:path';`,
    `import { bundleStale, loadWithCodeCache } from './runtime/env/bundles.js';`,
    `import { runProgram } from './runtime/env/program.js';`,
    // A rank not started by tsmpirun (which keeps the bundles fresh itself) warns of a stale runtime.
    `const entry = join(__dirname, 'tsmpi.js');`,
    `if (!process.env.TSMPI_CONTROL && bundleStale(entry)) {`,
    `  process.emitWarning(entry + ' is older than the modules it bundles: run npm run build (or any tsmpirun job) to refresh it', 'TsmpiWarning');`,
    `}`,
    `const library = loadWithCodeCache(join(__dirname, 'tsmpi-runtime.cjs'));`,
    `export const runtime = library.exports.joinWorld().then((world) => {`,
    // After joining, so that the cache also holds what start-up compiled; not before user code.
    `  if (!library.fromCache) setImmediate(() => library.storeCache()).unref();`,
    `  return {`,
    ...WORLD_EXPORTS.map((name) => `    ${name}: world.${name},`),
    ...runtimeNames(libraryExports).filter((name) => !WORLD_EXPORTS.includes(name)).map((name) => `    ${name}: library.exports.${name},`),
    `  };`,
    `});`,
    `export const run = (program) => runProgram(runtime, program);`,
    // tsmpi/futures: what FUTURES_LIBRARY takes from the library, and its names, loaded on first use
    // (by FUTURES_ENTRY, or a script-form job bundle's runtimeFacade).
    `export const ${SHARED_MODULES} = library.exports.${SHARED_MODULES};`,
    `let futures;`,
    `export const loadFutures = () => {`,
    `  if (futures === undefined) {`,
    `    const loaded = loadWithCodeCache(join(__dirname, 'tsmpi-futures.cjs'));`,
    `    if (!loaded.fromCache) setImmediate(() => loaded.storeCache()).unref();`,
    `    futures = loaded.exports;`,
    `  }`,
    `  return futures;`,
    `};`,
  ];
  return lines.join('\n');
}

/** The source of RUNTIME_ENTRY: an ES module of the runtime's names, once the rank has joined. */
function runtimeEntrySource(libraryExports: readonly string[]): string {
  return [
    `import { createRequire } from 'node:module';`,
    `const runtime = await createRequire(${OWN_URL})('./tsmpi-start.cjs').runtime;`,
    ...runtimeNames(libraryExports).map((name) => `export const ${name} = runtime.${name};`),
  ].join('\n');
}

/**
 * The source of FUTURES_ENTRY: an ES module of tsmpi/futures' names. Importing it joins the job, as
 * importing tsmpi does (the same promise: a process joins once, whichever entry it reaches first).
 */
function futuresEntrySource(names: readonly string[]): string {
  return [
    `import { createRequire } from 'node:module';`,
    `const start = createRequire(${OWN_URL})('./tsmpi-start.cjs');`,
    `await start.runtime;`,
    `const futures = start.loadFutures();`,
    ...names.map((name) => `export const ${name} = futures.${name};`),
  ].join('\n');
}

/**
 * msgpackr loads its native string extractor (msgpackr-extract, through node-gyp-build) when it is
 * imported, and calls it for any message of 140 bytes or more that holds a string. Loading it costs
 * ~6–8 ms of CPU here (node-gyp-build's search, dlopen); it then decodes strings ~2× faster than
 * JavaScript (a 2 KiB message of short records: 7.4 µs native, 13.4 µs in JS, so ~2.8 µs saved per
 * KiB). The bundles hand msgpackr an extractor that decodes in JavaScript (by refusing, which msgpackr
 * answers by reading that message in JS) until NATIVE_AFTER_BYTES of string-bearing messages have
 * gone through, and only then loads the native one: at most about the load's cost is spent before it
 * pays off, and a rank whose only such messages are the job's start-up exchange never loads it.
 * Where it cannot load, each use throws and msgpackr decodes that message in JavaScript.
 */
const NATIVE_AFTER_BYTES = 2 * 1024 * 1024;
const LAZY_EXTRACT = `let extract;
let decodedInJs = 0;
const IN_JS = Symbol('decode this message in JavaScript');
exports.extractStrings = function extractStrings(start, end, buffer) {
  if (extract === undefined) {
    decodedInJs += end - start;
    if (decodedInJs < ${NATIVE_AFTER_BYTES}) throw IN_JS;
    try { extract = require('msgpackr-extract').extractStrings; }
    catch (error) { extract = () => { throw error; }; }
  }
  return extract(start, end, buffer);
};`;

function lazyMsgpackrExtract(): Plugin {
  return {
    name: 'tsmpi-lazy-msgpackr-extract',
    setup(b: PluginBuild) {
      b.onResolve({ filter: /^msgpackr-extract$/ }, (args) => (args.namespace === 'tsmpi-lazy'
        ? { path: 'msgpackr-extract', external: true }
        : { path: 'msgpackr-extract', namespace: 'tsmpi-lazy' }));
      b.onLoad({ filter: /.*/, namespace: 'tsmpi-lazy' }, () => ({ contents: LAZY_EXTRACT, loader: 'js' }));
    },
  };
}

/**
 * ws requires https, tls and zlib when it is loaded, for wss:// URLs and permessage-deflate, neither of
 * which the control plane uses (ws:// on loopback or a Unix socket, compression off). Compiling and
 * running those built-ins cost every rank and the launcher ~1.5 ms of start-up CPU here; in the
 * bundles ws gets a stand-in for each that requires the real module on first property access.
 */
const LAZY_BUILTINS = ['https', 'tls', 'zlib'];

function lazyBuiltins(): Plugin {
  const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
  return {
    name: 'tsmpi-lazy-builtins',
    setup(b: PluginBuild) {
      // Only ws's own requires; everything else (the stand-in's require of the real module included)
      // resolves as esbuild would without this plugin.
      b.onResolve({ filter }, (args) => (args.namespace !== 'tsmpi-lazy-builtin' && /[\\/]node_modules[\\/]ws[\\/]/.test(args.importer)
        ? { path: args.path.replace(/^node:/, ''), namespace: 'tsmpi-lazy-builtin' }
        : undefined));
      b.onLoad({ filter: /.*/, namespace: 'tsmpi-lazy-builtin' }, (args) => ({
        contents: `let real;
const load = () => (real ??= require(${JSON.stringify(`node:${args.path}`)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => { const d = Reflect.getOwnPropertyDescriptor(load(), key); return d && { ...d, configurable: true }; },
});`,
        loader: 'js',
      }));
    },
  };
}

/** What a one-file program of ours is made of: a CommonJS library and the small files that load it. */
interface OneFileSpec {
  /** The library's output file, its entry module, and esbuild options of its own. */
  library: string;
  libraryModule: string;
  libraryOptions: BuildOptions;
  /**
   * Built after the library, in this order, each from its source (given the library as built, not yet
   * in place). The last is the one whose modification time the inputs are compared with.
   */
  entries: EntrySpec[];
  /** `{ inputs, …fields }` is written here: the inputs (relative to dist/) decide staleness. */
  manifest: string;
  /** The manifest's other fields, given each entry's output by its file. */
  manifestFields?: (entryOutputs: ReadonlyMap<string, Metafile['outputs'][string]>) => object;
  /** The last entry is a program run directly (a shebang line, mode 755). */
  executable?: boolean;
}

interface EntrySpec {
  file: string;
  source: (libraryFile: string) => string | Promise<string>;
  format: 'cjs' | 'esm';
  options?: BuildOptions | ((libraryFile: string) => BuildOptions);
}

/**
 * Builds one of our one-file programs; each file appears whole (rename), the library first, then the
 * entries in order, the manifest last.
 */
async function buildOneFile(spec: OneFileSpec): Promise<void> {
  const shared: BuildOptions = { absWorkingDir: dirname(spec.library), bundle: true, platform: 'node', target: 'node20', metafile: true, logLevel: 'warning' };
  const temporary = (file: string) => `${file}.${process.pid}.tmp`;
  try {
    await buildOneFileInto(spec, shared, temporary);
  } finally {
    // A failed build leaves no half-made file in dist/ (after success all were renamed away).
    for (const file of [spec.library, ...spec.entries.map((e) => e.file)]) rmSync(temporary(file), { force: true });
  }
}

async function buildOneFileInto(spec: OneFileSpec, shared: BuildOptions, temporary: (file: string) => string): Promise<void> {
  const { build } = loadEsbuild();
  const libraryTmp = temporary(spec.library);
  const library = await build({ ...shared, ...spec.libraryOptions, entryPoints: [spec.libraryModule], outfile: libraryTmp, format: 'cjs' });
  const inputs = Object.keys(library.metafile!.inputs);
  const outputs = new Map<string, Metafile['outputs'][string]>();
  for (const entry of spec.entries) {
    const built = await build({
      ...shared,
      ...(typeof entry.options === 'function' ? entry.options(libraryTmp) : entry.options),
      stdin: { contents: await entry.source(libraryTmp), resolveDir: dirname(entry.file), sourcefile: basename(entry.file), loader: 'js' },
      outfile: temporary(entry.file),
      format: entry.format,
    });
    inputs.push(...Object.keys(built.metafile!.inputs));
    outputs.set(entry.file, Object.values(built.metafile!.outputs).find((o) => o.entryPoint !== undefined)!);
  }
  const last = spec.entries[spec.entries.length - 1]!;
  if (spec.executable) chmodSync(temporary(last.file), 0o755);
  for (const file of [spec.library, ...spec.entries.map((e) => e.file)]) renameSync(temporary(file), file);
  const ownInputs = inputs.filter((i) => !i.startsWith('<stdin>') && !i.includes(':'));
  writeFileSync(temporary(spec.manifest), JSON.stringify({ inputs: [...new Set(ownInputs)], ...spec.manifestFields?.(outputs) }));
  renameSync(temporary(spec.manifest), spec.manifest);
}

/**
 * Builds dist/tsmpi-runtime.cjs, dist/tsmpi-start.cjs, dist/tsmpi-futures.cjs, dist/futures.js,
 * dist/tsmpi.js and their manifest from dist/runtime.
 */
export async function buildRuntimeBundle(): Promise<void> {
  await buildOneFile({
    library: RUNTIME_LIBRARY,
    libraryModule: RUNTIME_MODULES,
    libraryOptions: {
      // Whitespace and syntax only (names stay, for stack traces): a rank's resident memory fell by ~5 MiB
      // (less source kept, a smaller heap after loading), its start-up CPU slightly.
      minifyWhitespace: true,
      minifySyntax: true,
      // Node prints the source line where an uncaught error was made, except a line that holds the
      // marker "node-do-not-add-exception-line", which runtime/errors.ts keeps beside the construction
      // of every TsmpiError (a legal comment, kept in place). Without template literals, whose line
      // breaks are the only ones left in minified code, the bundle is that one line: no uncaught error
      // made in the runtime prints its hundreds of KB. (Start-up CPU and a rank's memory unchanged:
      // 30 alternating one-rank starts each, median 0.18 s of CPU and 52.3 MB before and after.)
      legalComments: 'inline',
      supported: { 'template-literal': false },
      // Optional native add-ons of ws: looked up at run time, where the package is.
      external: ['bufferutil', 'utf-8-validate'],
      plugins: [lazyMsgpackrExtract(), lazyBuiltins()],
    },
    // Loading the library has no side effects (runtime/library.ts): its exports are read off it.
    entries: [
      { file: RUNTIME_START, source: (libraryFile) => runtimeStartSource(libraryExportsOf(libraryFile)), format: 'cjs', options: { minifySyntax: true } },
      {
        file: FUTURES_LIBRARY,
        source: () => `export * from ${JSON.stringify(FUTURES_MODULES)};`,
        format: 'cjs',
        options: (libraryFile) => ({ minifyWhitespace: true, minifySyntax: true, plugins: [sharedRuntimeModules(libraryFile)] }),
      },
      { file: FUTURES_ENTRY, source: async (libraryFile) => futuresEntrySource(await futuresExportsOf(libraryFile)), format: 'esm', options: { minifySyntax: true } },
      { file: RUNTIME_ENTRY, source: (libraryFile) => runtimeEntrySource(libraryExportsOf(libraryFile)), format: 'esm', options: { minifySyntax: true } },
    ],
    manifest: RUNTIME_MANIFEST,
    manifestFields: (outputs) => Object.fromEntries(Object.values(PUBLIC_ENTRIES).map((e) => [e.manifestField, outputs.get(e.file)!.exports])),
  });
}

/**
 * tsmpirun as one file, loaded from V8's code cache like the runtime (runtime/env/bundles.ts): the
 * launcher's own start-up is on the critical path of every job. One file instead of its modules plus
 * yargs and ws took `tsmpirun --version` from ~195 ms of CPU to ~120 ms here (~93 ms on a later
 * Node), the code cache and the lazy msgpackr-extract to ~79 ms.
 * dist/tsmpirun.js (package.json `bin`) is a small entry; the launcher is dist/tsmpirun-main.cjs.
 * esbuild stays external (loaded only when a script must be built). The entry checks first whether
 * any input is newer than the bundle (after a bare `npx tsc -p .`) and then runs the modules tsc
 * emitted instead, so a stale bundle never runs.
 */
const LAUNCHER_BUNDLE = fileURLToPath(new URL('../tsmpirun.js', import.meta.url));
const LAUNCHER_LIBRARY = fileURLToPath(new URL('../tsmpirun-main.cjs', import.meta.url));
const LAUNCHER_MODULES = fileURLToPath(new URL('./main.js', import.meta.url));

const LAUNCHER_ENTRY = `import { fileURLToPath } from 'node:url';
import { bundleStale, loadWithCodeCache } from './runtime/env/bundles.js';
const self = fileURLToPath(${OWN_URL});
if (bundleStale(self)) await import(new URL('./launcher/bin.js', ${OWN_URL}).href);
else {
  const launcher = loadWithCodeCache(fileURLToPath(new URL('./tsmpirun-main.cjs', ${OWN_URL})));
  // At exit, so that the cache holds all the launcher compiled (it exits through process.exit).
  if (!launcher.fromCache) process.once('exit', () => launcher.storeCache());
  // The cached code cannot call import() itself (launcher/import-module.ts): it is given this module's.
  await launcher.exports.main((url) => import(url));
}`;

/**
 * string-width (yargs' help layout, three copies) compiles Unicode-property regular expressions and
 * an Intl.Segmenter when it loads: ~30 ms of every launch here, for help text that is plain ASCII.
 * In the launcher bundle it is replaced by the classic algorithm (strip ANSI codes, East Asian width
 * per code point, zero for control and combining characters), exact for the launcher's own text.
 */
const STRING_WIDTH_SHIM = `import stripAnsi from 'strip-ansi';
import { eastAsianWidth } from 'get-east-asian-width';
export default function stringWidth(string, options = {}) {
  if (typeof string !== 'string' || string.length === 0) return 0;
  if (!options.countAnsiEscapeCodes) string = stripAnsi(string);
  let width = 0;
  for (const character of string) {
    const cp = character.codePointAt(0);
    if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) continue;
    width += cp < 0x7f ? 1 : eastAsianWidth(cp, { ambiguousAsWide: options.ambiguousIsNarrow === false });
  }
  return width;
}`;

function stringWidthShim(): Plugin {
  return {
    name: 'tsmpi-string-width',
    setup(b: PluginBuild) {
      b.onResolve({ filter: /^string-width$/ }, (args) => ({ path: 'string-width', namespace: 'tsmpi-shim', pluginData: args.resolveDir }));
      b.onLoad({ filter: /.*/, namespace: 'tsmpi-shim' }, (args) => ({ contents: STRING_WIDTH_SHIM, loader: 'js', resolveDir: args.pluginData as string }));
    },
  };
}

/** The launcher bundle's own URL, set by its first line (modules inside may shadow `require`). */
const BUNDLE_URL = '__tsmpiBundleUrl';

/**
 * How bundled modules keep their own `import.meta.url`, `.filename` and `.dirname`: the build's `define`
 * puts an identifier in the place of each (esbuild replaces them in code only, never inside strings,
 * template text or property names), and each module that mentions `import.meta` declares those
 * identifiers with its own values (withModuleLocation). esbuild resolves the identifier in the module's
 * own scope, renaming the declarations apart between modules.
 */
const IMPORT_META_DEFINES = {
  'import.meta.url': '__tsmpi_import_meta_url',
  'import.meta.filename': '__tsmpi_import_meta_filename',
  'import.meta.dirname': '__tsmpi_import_meta_dirname',
} as const;

/** JavaScript expressions of a module's location. */
interface ModuleLocation {
  url: string;
  filename: string;
  dirname: string;
}

/**
 * `source` with the declarations of IMPORT_META_DEFINES' identifiers (when it mentions import.meta at
 * all), on its first line, so that every line keeps its number and the source map stays true; a hashbang
 * line, which must come first, becomes a comment after them.
 */
function withModuleLocation(source: string, location: ModuleLocation): string {
  if (!source.includes('import.meta')) return source;
  const declarations = `const ${IMPORT_META_DEFINES['import.meta.url']} = ${location.url}, `
    + `${IMPORT_META_DEFINES['import.meta.filename']} = ${location.filename}, `
    + `${IMPORT_META_DEFINES['import.meta.dirname']} = ${location.dirname};`;
  return source.startsWith('#!') ? `${declarations}//${source.slice(2)}` : `${declarations}${source}`;
}

/**
 * Keeps `import.meta.url` (and dirname/filename) of every module bundled into the launcher meaning the
 * module's own file, as in the user-script transform: launcher modules locate files beside them (the
 * remote agent, the runtime bundle), which must not move when they are bundled into one file.
 */
function keepModuleUrls(bundleDir: string): Plugin {
  // Relative to the bundle's own file, not absolute: a package built on one machine and installed on
  // another (npm pack / publish) still finds the files beside its bundle. The bundle is CommonJS.
  const at = (path: string) => `new URL(${JSON.stringify(`./${relative(bundleDir, path)}`)}, ${BUNDLE_URL})`;
  return {
    name: 'tsmpi-module-urls',
    setup(b: PluginBuild) {
      b.onLoad({ filter: /\.m?js$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import.meta')) return undefined;
        const contents = withModuleLocation(source, {
          url: `${at(args.path)}.href`,
          filename: `decodeURIComponent(${at(args.path)}.pathname)`,
          dirname: `decodeURIComponent(${at(dirname(args.path))}.pathname)`,
        });
        return { contents, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

/** Builds dist/tsmpirun-main.cjs, dist/tsmpirun.js and their manifest from dist/launcher. */
export async function buildLauncherBundle(): Promise<void> {
  await buildOneFile({
    library: LAUNCHER_LIBRARY,
    libraryModule: LAUNCHER_MODULES,
    libraryOptions: {
      external: ['esbuild', 'bufferutil', 'utf-8-validate'],
      // "use strict" first: a directive counts only at the start, and the banner comes before esbuild's.
      banner: { js: `"use strict"; const ${BUNDLE_URL} = require('node:url').pathToFileURL(__filename);` },
      define: IMPORT_META_DEFINES,
      plugins: [stringWidthShim(), lazyMsgpackrExtract(), lazyBuiltins(), keepModuleUrls(dirname(LAUNCHER_BUNDLE))],
    },
    entries: [{ file: LAUNCHER_BUNDLE, source: () => LAUNCHER_ENTRY, format: 'esm', options: { banner: { js: '#!/usr/bin/env node' } } }],
    manifest: LAUNCHER_BUNDLE.replace(/\.js$/, '.inputs.json'),
    executable: true,
  });
}

/**
 * Rebuilds the runtime bundle when it is stale (a concurrent rebuild by another job is harmless), and
 * the launcher's when it is stale (this run already fell back to the modules; the next one need not).
 */
export async function ensureRuntimeBundle(): Promise<void> {
  const launcherStale = bundleStale(LAUNCHER_BUNDLE);
  const rebuildLauncher = launcherStale ? buildLauncherBundle().catch(() => {}) : undefined;
  try {
    if (bundleStale(RUNTIME_ENTRY)) await buildRuntimeBundle();
  } catch (e) {
    try {
      statSync(RUNTIME_ENTRY);
    } catch {
      throw new Error(`cannot build the runtime bundle ${RUNTIME_ENTRY}: ${(e as Error).message}`);
    }
    // An installed package may be read-only: run the bundle it came with.
  } finally {
    await rebuildLauncher;
  }
}

/**
 * esbuild, loaded only when there is something to build (it starts a helper process). Through require:
 * the one-file launcher cannot use import() (launcher/import-module.ts), and esbuild is CommonJS.
 */
function loadEsbuild(): typeof import('esbuild') {
  return createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
}

/** Bundles are reused across jobs while every input file keeps its content (not its size and time: an edit can keep both). */
const CACHE_DIR = join(tsmpiCacheDir(), 'bundles');
/** Job bundle cache files kept: an entry (bundle and manifest) for each of the 256 scripts last used. */
const BUNDLE_CACHE_FILES_KEPT = 512;

interface CacheManifest {
  runtime: string;
  form: BundleForm;
  inputs: BundleInput[];
}

/** One of the script's own files a bundle was made of, and the hash of the content it was made from. */
interface BundleInput {
  path: string;
  sha256: string;
}

function contentHash(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

const LOADERS: Record<string, 'ts' | 'js' | 'tsx' | 'jsx'> = {
  '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.tsx': 'tsx', '.jsx': 'jsx',
};

export class ScriptCompileError extends Error {
  constructor(readonly details: string) {
    super(details);
  }
}

/** The names each public entry exports (PUBLIC_ENTRIES, from the runtime's manifest), or undefined when unknown. */
function runtimeExports(): Record<string, string[]> | undefined {
  try {
    const manifest = JSON.parse(readFileSync(RUNTIME_MANIFEST, 'utf8')) as Record<string, unknown>;
    const names: Record<string, string[]> = {};
    for (const [specifier, entry] of Object.entries(PUBLIC_ENTRIES)) {
      const list = manifest[entry.manifestField];
      if (!Array.isArray(list) || list.length === 0) return undefined;
      names[specifier] = list as string[];
    }
    return names;
  } catch {
    return undefined;
  }
}

/**
 * How a job bundle runs in a rank. Node 20's ES module loader costs a rank ~8–10 ms of CPU to start
 * (measured: a rank reached its program ~10 ms sooner without it; `-np 16` went from 0.75–0.89 to
 * 0.65–0.74 s), so a program that needs no module syntax once bundled runs as a script:
 *  - 'script' (main.cjs): the bundled program, with Node's built-in modules taken through `require`,
 *    becomes the body of an async function that dist/tsmpi-start.cjs calls once the rank has joined
 *    (runtime/env/program.ts gives it what Node gives a module's top level);
 *  - 'module' (main.mjs): an ES module, for a program that imports packages (an ES-module-only one
 *    cannot be required), exports names, or uses `import.meta` beyond its url, filename and dirname.
 */
export type BundleForm = 'script' | 'module';

/** The parameter through which a script-form program receives the runtime's names. */
const SCRIPT_RUNTIME_PARAMETER = '__tsmpiRuntime';
/** How a script-form program requires Node's built-in modules (its own `require` is hidden). */
const SCRIPT_REQUIRE = '__tsmpiRequire';
/**
 * What CommonJS defines and an ES module does not: parameters of the script form's function that stay
 * undefined, so that the program sees what a module sees.
 */
const COMMONJS_ONLY_NAMES = ['require', 'module', 'exports', '__filename', '__dirname'];

/**
 * The package's entries a program imports (package.json `exports`), all of which mean this tsmpirun's
 * runtime in a job bundle: the file a module-form bundle imports, the expression a script-form bundle
 * takes the names from (the runtime RUNTIME_START hands the program, or its futures namespace), and
 * the field of the runtime's manifest that lists the names.
 */
const PUBLIC_ENTRIES: Readonly<Record<string, { file: string; script: string; manifestField: string }>> = {
  'tsmpi': { file: RUNTIME_ENTRY, script: SCRIPT_RUNTIME_PARAMETER, manifestField: 'exports' },
  'tsmpi/futures': { file: FUTURES_ENTRY, script: `${SCRIPT_REQUIRE}(${JSON.stringify(RUNTIME_START)}).loadFutures()`, manifestField: 'futuresExports' },
};

/**
 * What the script's `import … from 'tsmpi'` (or another public entry) becomes: a module bundled with
 * the script that takes the runtime once and re-exports each name as a constant, so the script's code
 * refers to plain variables of its own module rather than to imported bindings. V8 (Node 20) runs a
 * hot loop that reads an imported binding several times slower: examples/auc.ts's `i < n / comm.size`
 * made its loop ~5× slower under tsmpirun than the same loop over a local constant (1.94 s against
 * 0.38 s for 6e8 steps). The runtime's exports are never reassigned, so constants are exactly what
 * they were.
 */
function runtimeFacade(specifier: string, exports: readonly string[], form: BundleForm): string {
  const entry = PUBLIC_ENTRIES[specifier]!;
  const lines = [form === 'module' ? `import * as runtime from ${JSON.stringify(entry.file)};` : `const runtime = ${entry.script};`];
  for (const name of exports) lines.push(`export const ${name} = runtime.${name};`);
  return lines.join('\n');
}

/**
 * Resolves packages to where the script would find them and leaves them external; makes `import 'tsmpi'`
 * (and tsmpi/futures) the runtime facade; loads the script's own files, recording in `contentHashes` what each held.
 */
function keepPackagesExternal(exports: Record<string, string[]> | undefined, form: BundleForm, contentHashes: Map<string, string>): Plugin {
  return {
    name: 'tsmpi-externals',
    setup(b: PluginBuild) {
      b.onResolve({ filter: /^tsmpi(\/|$)/ }, (args) => {
        if (!Object.hasOwn(PUBLIC_ENTRIES, args.path)) {
          return { errors: [{ text: `'${args.path}' is not an entry of the tsmpi package (${Object.keys(PUBLIC_ENTRIES).join(', ')})` }] };
        }
        return exports ? { path: args.path, namespace: 'tsmpi-facade' } : { path: PUBLIC_ENTRIES[args.path]!.file, external: true };
      });
      b.onResolve({ filter: /.*/, namespace: 'tsmpi-facade' }, (args) => ({ path: args.path, external: true }));
      b.onLoad({ filter: /.*/, namespace: 'tsmpi-facade' }, (args) => ({ contents: runtimeFacade(args.path, exports![args.path]!, form), loader: 'js' }));
      // A script takes a built-in module as a CommonJS one (through esbuild's interop, as Node's ES
      // module loader does): no import statement is left for it. The require is not the program's
      // (hidden, see COMMONJS_ONLY_NAMES), and esbuild does not take it for one to resolve.
      b.onResolve({ filter: /.*/, namespace: 'tsmpi-builtin' }, (args) => ({ path: args.path, external: true }));
      b.onLoad({ filter: /.*/, namespace: 'tsmpi-builtin' }, (args) => ({ contents: `module.exports = ${SCRIPT_REQUIRE}(${JSON.stringify(args.path)});`, loader: 'js' }));
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === 'tsmpi-resolving') return undefined;
        if (isBuiltin(args.path)) return form === 'script' ? { path: args.path, namespace: 'tsmpi-builtin' } : { path: args.path, external: true };
        const found = await b.resolve(args.path, {
          kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'tsmpi-resolving',
        });
        if (found.errors.length > 0) {
          // A package that is not installed fails a dynamic import where Node would: when it runs, so a
          // program can load an optional package and say what to install (examples/diffusion2d.ts --png).
          return args.kind === 'dynamic-import' ? { path: args.path, external: true } : { errors: found.errors };
        }
        return { path: found.path, external: true };
      });
      b.onLoad({ filter: /\.[mc]?[jt]sx?$/ }, async (args) => {
        const ext = /\.[mc]?[jt]sx?$/.exec(args.path)![0];
        const source = await readFile(args.path);
        contentHashes.set(args.path, contentHash(source));
        const contents = withModuleLocation(source.toString('utf8'), {
          url: JSON.stringify(pathToFileURL(args.path).href),
          filename: JSON.stringify(args.path),
          dirname: JSON.stringify(dirname(args.path)),
        });
        return { contents, loader: LOADERS[ext] ?? 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

function formatMessages(messages: Message[]): string {
  return messages.map((m) => {
    // Paths are relative to absWorkingDir, which is '/'.
    const where = m.location ? `${resolve('/', m.location.file)}:${m.location.line}:${m.location.column + 1}: ` : '';
    const line = m.location?.lineText ? `\n    ${m.location.lineText}` : '';
    return `${where}${m.text}${line}`;
  }).join('\n');
}

/**
 * Changes whenever what a job bundle contains changes for the same inputs (v2: the runtime facade; v3: the
 * script form; v4: inputs known by content, import.meta replaced in code only; v5: tsmpi/futures).
 */
const BUNDLE_FORMAT = 'v5';

function cacheKey(script: string): string {
  const format = `${BUNDLE_FORMAT}+${JSON.stringify(runtimeExports() ?? null)}`;
  return createHash('sha256').update(format).update('\0').update(RUNTIME_ENTRY).update('\0').update(script).digest('hex').slice(0, 32);
}

/** A cached bundle's file: the cache key and the extension its form gives it. */
function cacheFile(base: string, form: BundleForm): string {
  return `${base}${extname(JOB_BUNDLE_FILES[form])}`;
}

function cachedBundle(script: string): { file: string; form: BundleForm } | undefined {
  const base = join(CACHE_DIR, cacheKey(script));
  try {
    const manifest = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as CacheManifest;
    if (manifest.runtime !== RUNTIME_ENTRY || !Object.hasOwn(JOB_BUNDLE_FILES, manifest.form)) return undefined;
    for (const input of manifest.inputs) if (contentHash(readFileSync(input.path)) !== input.sha256) return undefined;
    const file = cacheFile(base, manifest.form);
    touchCacheFile(`${base}.json`);
    touchCacheFile(file);
    return { file, form: manifest.form };
  } catch {
    return undefined;
  }
}

function storeBundle(script: string, bundle: JobBundle): void {
  try {
    const base = join(CACHE_DIR, cacheKey(script));
    const manifest: CacheManifest = { runtime: RUNTIME_ENTRY, form: bundle.form, inputs: bundle.inputs };
    // Each file appears whole, so a concurrent job never reads half of one.
    writeCacheFile(cacheFile(base, bundle.form), bundle.code);
    writeCacheFile(`${base}.json`, JSON.stringify(manifest), BUNDLE_CACHE_FILES_KEPT);
  } catch {
    // A cache that cannot be written only costs the next job a rebuild.
  }
}

interface JobBundle {
  form: BundleForm;
  code: string;
  /** The script's own files it was made of. */
  inputs: BundleInput[];
}

/**
 * Writes the job's bundle of `script` into `dir` and returns its path (JOB_BUNDLE_FILES: the name says
 * its form). Throws ScriptCompileError with readable details.
 */
export async function bundleScript(script: string, dir: string): Promise<string> {
  await ensureRuntimeBundle();
  const cached = cachedBundle(script);
  if (cached) {
    try {
      const path = join(dir, JOB_BUNDLE_FILES[cached.form]);
      copyFileSync(cached.file, path);
      return path;
    } catch {
      // fall through to a fresh build
    }
  }
  const bundle = await buildJobBundle(script, dir);
  const path = join(dir, JOB_BUNDLE_FILES[bundle.form]);
  writeFileSync(path, bundle.code);
  storeBundle(script, bundle);
  return path;
}

/** The script form where the program allows it (see BundleForm), else the module form. */
async function buildJobBundle(script: string, dir: string): Promise<JobBundle> {
  const exports = runtimeExports();
  if (exports) {
    const built = await esbuildJobBundle(script, join(dir, JOB_BUNDLE_FILES.script), exports, 'script');
    const code = asScript(built);
    if (code !== undefined) return { form: 'script', code, inputs: built.inputs };
  }
  const built = await esbuildJobBundle(script, join(dir, JOB_BUNDLE_FILES.module), exports, 'module');
  return { form: 'module', code: built.code, inputs: built.inputs };
}

interface EsbuildOutput {
  code: string;
  inputs: BundleInput[];
  output: Metafile['outputs'][string];
}

/**
 * What a script-form build turns any other use of `import.meta` into (IMPORT_META_DEFINES takes url,
 * filename and dirname): a script has no import.meta, so a bundle that still names it is built as a module.
 */
const SCRIPT_IMPORT_META = '__tsmpi_import_meta_in_script';

async function esbuildJobBundle(script: string, outfile: string, exports: Record<string, string[]> | undefined, form: BundleForm): Promise<EsbuildOutput> {
  // esbuild is loaded only when there is something to build: it starts a helper process.
  const { build } = loadEsbuild();
  const contentHashes = new Map<string, string>();
  try {
    const result = await build({
      absWorkingDir: '/',
      metafile: true,
      entryPoints: [script],
      // Where the bundle will be: the source map's paths are relative to it.
      outfile,
      write: false,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      sourcesContent: false,
      logLevel: 'silent',
      define: form === 'script' ? { ...IMPORT_META_DEFINES, 'import.meta': SCRIPT_IMPORT_META } : IMPORT_META_DEFINES,
      plugins: [keepPackagesExternal(exports, form, contentHashes)],
    });
    // Files only: the runtime facade lives in a namespace of its own (and enters the cache key instead).
    const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes(':')).map((p) => (p.startsWith('/') ? p : `/${p}`))
      .map((path) => ({ path, sha256: contentHashes.get(path) ?? contentHash(readFileSync(path)) }));
    return { code: result.outputFiles[0]!.text, inputs, output: Object.values(result.metafile.outputs)[0]! };
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    throw new ScriptCompileError(errors ? formatMessages(errors) : String(e));
  }
}

const SOURCE_MAP_COMMENT = '\n//# sourceMappingURL=';

/**
 * The script form of a bundle built for it, or undefined when module syntax is left in it: an import
 * statement (a package), an export, or `import.meta`. The program's code keeps its lines (the source
 * map stays true): the call that wraps it starts on its first line, which esbuild gives to a comment,
 * and ends before the source map; a hashbang line becomes a comment.
 */
function asScript(built: EsbuildOutput): string | undefined {
  if (built.output.exports.length > 0) return undefined;
  if (built.output.imports.some((i) => i.external && i.kind === 'import-statement')) return undefined;
  if (built.code.includes(SCRIPT_IMPORT_META)) return undefined;
  const mapAt = built.code.lastIndexOf(SOURCE_MAP_COMMENT);
  const body = (mapAt < 0 ? built.code : built.code.slice(0, mapAt)).replace(/^#!/, '//');
  const map = mapAt < 0 ? '\n' : built.code.slice(mapAt);
  const parameters = [SCRIPT_RUNTIME_PARAMETER, ...COMMONJS_ONLY_NAMES].join(', ');
  return `"use strict";const ${SCRIPT_REQUIRE} = require;${SCRIPT_REQUIRE}(${JSON.stringify(RUNTIME_START)}).run(async function (${parameters}) {${body}\n});${map}`;
}

