#!/usr/bin/env node
// tsmpirun: parse the command line, run the job, exit with its status.
import { parseCommandLine, USAGE_ERROR_EXIT_CODE } from './cli.js';
import { runJob, UsageError } from './job.js';

// `tsmpirun … | head` closes our stdout early: the job goes on, its output has nowhere to go.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

const parsed = parseCommandLine(process.argv.slice(2), process.cwd());
if (parsed.kind === 'exit') {
  if (parsed.stdout) process.stdout.write(parsed.stdout);
  if (parsed.stderr) process.stderr.write(parsed.stderr);
  process.exit(parsed.code);
}
try {
  process.exit(await runJob(parsed.options));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`tsmpirun: ${e.message}\nRun 'tsmpirun --help' for usage.\n`);
    process.exit(USAGE_ERROR_EXIT_CODE);
  }
  process.stderr.write(`tsmpirun: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
}
