// The order vitest starts test files in: longest first, so that no long file starts last and runs alone
// while the other workers idle. Vitest's own order uses the durations of the last run on this machine
// (its cache); a fresh clone has none and would go by file size, which put the 200-job loop (a small
// file, 2-2.5 minutes) last: CI's suite ran ~2 minutes longer than its work. Without a cached
// duration, a file takes the figure below (seconds, a fresh clone's `.ci/run` on 2 cores, 2026-12-07),
// or 0 when it is not listed (the short ones).
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const EXPECTED_SECONDS: Record<string, number> = {
  'processes:test/integration/coll.test.ts': 206,
  'processes:test/integration/package-install.test.ts': 150,
  'processes:test/integration/failure-loop.test.ts': 144,
  'threads:test/integration/futures.test.ts': 102,
  'processes:test/integration/futures.test.ts': 100,
  'threads:test/integration/finalize.test.ts': 93,
  'threads:test/integration/coll.test.ts': 87,
  'processes:test/integration/finalize.test.ts': 76,
  'threads:test/integration/interleave.test.ts': 74,
  'threads:test/integration/launcher.test.ts': 74,
  'processes:test/integration/interleave.test.ts': 73,
  'processes:test/integration/launcher.test.ts': 73,
  'processes:test/integration/failure-flow-many.test.ts': 69,
  'processes:test/integration/cluster-hosts.test.ts': 67,
  'threads:test/integration/failure-flow.test.ts': 64,
  'threads:test/integration/cluster-hosts.test.ts': 57,
  'threads:test/integration/comm.test.ts': 49,
  'threads:test/integration/failure-hangs.test.ts': 47,
  'threads:test/integration/diffusion.test.ts': 45,
  'processes:test/integration/comm.test.ts': 45,
  'processes:test/integration/failure-hangs.test.ts': 44,
  'processes:test/integration/diffusion.test.ts': 41,
  'processes:test/integration/failure-flow.test.ts': 38,
  'threads:test/integration/examples.test.ts': 38,
  'processes:test/integration/security.test.ts': 37,
  'threads:test/integration/p2p-large.test.ts': 36,
  'threads:test/integration/failure-flow-many.test.ts': 33,
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const seconds = new Map<TestSpecification, number>();
    for (const file of files) {
      const key = `${file.project.name}:${relative(config.root, file.moduleId)}`;
      const cached = cache.getFileTestResults(key);
      seconds.set(file, cached ? cached.duration / 1000 : EXPECTED_SECONDS[key] ?? 0);
    }
    return [...files].sort((a, b) => seconds.get(b)! - seconds.get(a)!);
  }
}
