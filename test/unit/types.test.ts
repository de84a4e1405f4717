// The everyday request patterns of API.md compile under `tsc --noEmit --strict` (test/types/requests.ts):
// typed sends resolve to a Status like receives, and Request.waitall over a mix of requests type-checks.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/job.js';

describe('request types', () => {
  it('test/types/requests.ts type-checks with tsc --strict', () => {
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(REPO, 'test', 'types', 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      output = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
    }
    expect(output).toBe('');
  }, 60_000);
});
