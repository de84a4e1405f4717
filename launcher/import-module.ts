// import() for the launcher's modules. The one-file launcher runs from V8's code cache as a vm.Script
// (runtime/env/code-cache.ts), where Node 20 rejects import() (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING)
// unless an experimental option is used; its ES-module entry (dist/tsmpirun.js) lends its own import()
// instead. Run as the modules tsc emits, the launcher imports directly.
const LENT_IMPORT = Symbol.for('tsmpi.importModule');

export function importModule(url: string): Promise<unknown> {
  const lent = (globalThis as { [LENT_IMPORT]?: (url: string) => Promise<unknown> })[LENT_IMPORT];
  return lent ? lent(url) : import(url);
}
