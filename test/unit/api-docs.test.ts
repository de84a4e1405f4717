// The API reference (`npm run docs`, typedoc.json) documents every public symbol of tsmpi and
// tsmpi/futures. TypeDoc's validation runs here as `npm run docs` runs it, without writing the site
// (--emit none): an exported symbol, class member or property without a doc comment (notDocumented), a
// type a public signature uses that the reference cannot show (notExported) or a {@link} to nothing
// (invalidLink) fails the test, naming the symbols. Internal plumbing is marked @internal instead:
// excluded from the reference, and stripped from the shipped declarations (stripInternal).
// TypeDoc reads the sources, not dist/, so this needs no build; it type-checks the whole project once,
// about 15 s of CPU.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runCommand } from '../helpers/command.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TYPEDOC = join(REPO, 'node_modules', 'typedoc', 'bin', 'typedoc');
/** TypeDoc alone takes ~15 s here; a loaded 2-core machine can make that several times longer. */
const TYPEDOC_TIMEOUT_MS = 150_000;

/** TypeDoc's output lines, without colours. */
async function typedocValidation(): Promise<{ lines: string[]; failed: boolean }> {
  let output: string;
  let failed = false;
  try {
    output = await runCommand(process.execPath, [TYPEDOC, '--emit', 'none'], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      timeoutMs: TYPEDOC_TIMEOUT_MS,
      what: 'typedoc --emit none',
    });
  } catch (e) {
    // runCommand's error holds everything TypeDoc printed.
    output = (e as Error).message;
    failed = true;
  }
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((line) => line.trimEnd());
  return { lines, failed };
}

it('every public symbol has a doc comment, and TypeDoc finds nothing to warn about', async () => {
  const { lines, failed } = await typedocValidation();

  // "[warning] tsmpi.Comm.send (CallSignature), defined in tsmpi/runtime/comm/comm.ts, does not have any documentation"
  const undocumented = lines
    .filter((line) => line.endsWith('does not have any documentation'))
    .map((line) => line.replace(/^.*?\[(warning|error)\]\s*/, '').replace(/, does not have any documentation$/, ''));
  expect(undocumented, 'exported symbols without a doc comment: write a TSDoc comment for each (or mark runtime plumbing @internal)').toEqual([]);

  const problems = lines.filter((line) => /\[(warning|error)\]/.test(line) && !/Found \d+ errors? and \d+ warnings?/.test(line));
  expect(problems, 'TypeDoc warnings (typedoc.json treats them as errors)').toEqual([]);

  // A failure that printed no warning (TypeDoc could not start, or timed out) shows all it printed.
  expect(failed ? lines.join('\n') : '', 'typedoc --emit none failed').toBe('');
}, TYPEDOC_TIMEOUT_MS + 10_000);
