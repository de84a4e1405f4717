// tsmpirun's program: parse the command line, run the job, exit with its status. Started by
// launcher/bin.ts (the modules tsc emits) or by dist/tsmpirun.js (the one-file launcher).
import { parseCommandLine, USAGE_ERROR_EXIT_CODE } from './cli.js';
import { lendImport, type ImportModule } from './import-module.js';
import { runJob, UsageError } from './job.js';
import { restoreUserExtraCaCerts } from '../runtime/env/config.js';

/** Exits once everything written to stdout and stderr has left the process (pipe writes may be queued). */
async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((done) => {
    if (s.writableLength === 0 || s.destroyed) done();
    else s.write('', () => done());
  })));
  process.exit(code);
}

/** `importer`: import() lent by the one-file launcher's entry (launcher/import-module.ts). */
export async function main(importer?: ImportModule): Promise<never> {
  if (importer) lendImport(importer);
  // bin/tsmpirun started us without the user's NODE_EXTRA_CA_CERTS: ranks and agents get it back.
  restoreUserExtraCaCerts();
  // `tsmpirun … | head` closes our stdout early: the job goes on, its output has nowhere to go.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

  const parsed = parseCommandLine(process.argv.slice(2), process.cwd());
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
    return exitAfterFlush(parsed.code);
  }
  let status: number;
  try {
    status = await runJob(parsed.options);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tsmpirun: ${e.message}\nRun 'tsmpirun --help' for usage.\n`);
      status = USAGE_ERROR_EXIT_CODE;
    } else {
      process.stderr.write(`tsmpirun: ${(e as Error).stack ?? String(e)}\n`);
      status = 1;
    }
  }
  return exitAfterFlush(status);
}
