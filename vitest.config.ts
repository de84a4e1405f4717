import { defineConfig } from 'vitest/config';
import LongestFirst from './test/helpers/sequencer.js';

/**
 * Integration tests that run a second time with ranks as threads (TSMPI_RANKS=threads): everything a
 * program can observe of its ranks. The rest (launcher usage, PMI and Slurm launchers, where ranks are
 * processes, and the long job loop) runs once, with ranks as processes.
 */
const BOTH_MODES = [
  'badinput', 'bundle-forms', 'cluster-hosts', 'coll', 'comm', 'diffusion', 'examples', 'failure', 'failure-flow',
  'failure-flow-many', 'failure-hangs', 'finalize', 'futures', 'interleave', 'launcher', 'observe', 'p2p', 'p2p-large',
].map((name) => `test/integration/${name}.test.ts`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real multi-process jobs; the machine has 2 cores. Workers beyond two fill
    // the time the others wait (npm in the package test, Slurm, grace periods and --timeout cases): the
    // whole suite took 913 s with three and 866 s with four (2026-12-07).
    pool: 'forks',
    poolOptions: { forks: { maxForks: 4, minForks: 1 } },
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: { name: 'processes', include: ['test/**/*.test.ts'], env: { TSMPI_RANKS: 'processes' } },
      },
      {
        extends: true,
        test: { name: 'threads', include: BOTH_MODES, env: { TSMPI_RANKS: 'threads' } },
      },
    ],
  },
});
