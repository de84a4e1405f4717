// import() for the launcher's modules. The one-file launcher runs from V8's code cache as a vm.Script
// (runtime/env/bundles.ts), where Node 20 rejects import() (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING)
// unless an experimental option is used; its ES-module entry (dist/tsmpirun.js) lends its own import()
// through main(). Run as the modules tsc emits, the launcher imports directly.
export type ImportModule = (url: string) => Promise<unknown>;

let lent: ImportModule | undefined;

/** Makes `importer` the import() of the launcher's modules (main() calls it with the entry's). */
export function lendImport(importer: ImportModule): void {
  lent = importer;
}

export function importModule(url: string): Promise<unknown> {
  return lent ? lent(url) : import(url);
}
