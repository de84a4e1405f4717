// The order vitest starts test files in: longest first, so that no long file starts last and runs alone
// while the other workers idle. Vitest's own order uses the durations of the last run on this machine
// (its cache); a fresh clone has none and would go by file size, which put the 200-job loop (a small
// file, 2-2.5 minutes) last: CI's suite ran ~2 minutes longer than its work. Without a cached
// duration, a file takes the figure below (seconds, a fresh clone's `.ci/run` on 2 cores with four
// vitest workers, 2026-12-07), or 0 when it is not listed (the short ones).
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const EXPECTED_SECONDS: Record<string, number> = {
  'processes:test/integration/failure-loop.test.ts': 350,
  'threads:test/integration/coll.test.ts': 257,
  'processes:test/integration/package-install.test.ts': 238,
  'threads:test/integration/futures.test.ts': 166,
  'processes:test/integration/futures.test.ts': 141,
  'processes:test/integration/coll.test.ts': 130,
  'threads:test/integration/launcher.test.ts': 126,
  'processes:test/integration/launcher.test.ts': 121,
  'processes:test/integration/finalize.test.ts': 98,
  'threads:test/integration/finalize.test.ts': 96,
  'threads:test/integration/failure-flow.test.ts': 89,
  'threads:test/integration/interleave.test.ts': 87,
  'processes:test/integration/interleave.test.ts': 79,
  'processes:test/integration/cluster-hosts.test.ts': 73,
  'threads:test/integration/cluster-hosts.test.ts': 71,
  'threads:test/integration/comm.test.ts': 71,
  'processes:test/integration/failure-flow-many.test.ts': 70,
  'processes:test/integration/comm.test.ts': 64,
  'processes:test/integration/failure-hangs.test.ts': 62,
  'threads:test/integration/failure-hangs.test.ts': 60,
  'processes:test/integration/badinput-launcher.test.ts': 56,
  'threads:test/integration/diffusion.test.ts': 54,
  'processes:test/integration/diffusion.test.ts': 49,
  'processes:test/pmi-integration.test.ts': 47,
  'processes:test/integration/examples.test.ts': 46,
  'threads:test/integration/examples.test.ts': 46,
  'processes:test/integration/threads.test.ts': 45,
  'threads:test/integration/failure.test.ts': 45,
  'threads:test/integration/p2p.test.ts': 43,
  'processes:test/integration/failure.test.ts': 42,
  'processes:test/integration/security.test.ts': 40,
  'processes:test/integration/failure-flow.test.ts': 37,
  'processes:test/integration/slurm-batch.test.ts': 37,
  'processes:test/integration/p2p.test.ts': 36,
  'processes:test/unit/coll-reduce.test.ts': 36,
  'processes:test/unit/api-docs.test.ts': 35,
  'processes:test/integration/p2p-large.test.ts': 34,
  'processes:test/integration/bundle-forms.test.ts': 33,
  'threads:test/integration/failure-flow-many.test.ts': 32,
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
