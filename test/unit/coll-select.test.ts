// The algorithm selection table (runtime/coll/select.ts): MPICH's initial crossovers, the
// TSMPI_COLL_<NAME> overrides and their validation, and the fallbacks when a forced algorithm cannot
// run a call.
import { afterEach, describe, expect, it } from 'vitest';
import {
  ALLGATHER_LONG_MSG_BYTES, ALLGATHER_SHORT_MSG_BYTES, ALLREDUCE_SHORT_MSG_BYTES, ALLTOALL_MEDIUM_MSG_BYTES, BCAST_MIN_PROCS,
  BCAST_SHORT_MSG_BYTES, COLL_ALGORITHMS, collOverrides, REDUCE_SCATTER_LONG_MSG_BYTES, REDUCE_SHORT_MSG_BYTES, resetSelection,
  selectAlgorithm,
} from '../../runtime/coll/select.js';
import { isTsmpiError } from '../../runtime/errors.js';

afterEach(() => resetSelection({}));

const big = { commute: true, items: 1 << 20 };

describe('default table', () => {
  it('bcast: binomial for short messages or few ranks, scatter + allgather otherwise, binomial for objects', () => {
    resetSelection({});
    expect(selectAlgorithm('bcast', { size: 64, bytes: BCAST_SHORT_MSG_BYTES - 1 })).toBe('binomial');
    expect(selectAlgorithm('bcast', { size: BCAST_MIN_PROCS - 1, bytes: 1e6 })).toBe('binomial');
    expect(selectAlgorithm('bcast', { size: BCAST_MIN_PROCS, bytes: BCAST_SHORT_MSG_BYTES })).toBe('scatter_allgather');
    expect(selectAlgorithm('bcast', { size: 64, bytes: 0, objects: true })).toBe('binomial');
  });

  it('allreduce: recursive doubling when short, few items, a user op or objects; Rabenseifner otherwise', () => {
    resetSelection({});
    expect(selectAlgorithm('allreduce', { size: 8, bytes: ALLREDUCE_SHORT_MSG_BYTES, ...big })).toBe('recursive_doubling');
    expect(selectAlgorithm('allreduce', { size: 8, bytes: ALLREDUCE_SHORT_MSG_BYTES + 1, ...big })).toBe('rabenseifner');
    expect(selectAlgorithm('allreduce', { size: 8, bytes: 1e6, commute: true, items: 7 })).toBe('recursive_doubling');
    expect(selectAlgorithm('allreduce', { size: 8, bytes: 1e6, ...big, userOp: true })).toBe('recursive_doubling');
    expect(selectAlgorithm('allreduce', { size: 8, bytes: 0, objects: true })).toBe('recursive_doubling');
    expect(selectAlgorithm('allreduce', { size: 8, bytes: 1e6, items: 1e6, commute: false })).toBe('rabenseifner');
  });

  it('reduce: binomial when short, Rabenseifner when long', () => {
    resetSelection({});
    expect(selectAlgorithm('reduce', { size: 8, bytes: REDUCE_SHORT_MSG_BYTES, ...big })).toBe('binomial');
    expect(selectAlgorithm('reduce', { size: 8, bytes: REDUCE_SHORT_MSG_BYTES + 1, ...big })).toBe('rabenseifner');
    expect(selectAlgorithm('reduce', { size: 8, bytes: 1e6, ...big, userOp: true })).toBe('binomial');
  });

  it('allgather: recursive doubling (power of two), Bruck (short), ring (long); alltoall: scattered then pairwise', () => {
    resetSelection({});
    expect(selectAlgorithm('allgather', { size: 8, bytes: ALLGATHER_LONG_MSG_BYTES - 1 })).toBe('recursive_doubling');
    expect(selectAlgorithm('allgather', { size: 8, bytes: ALLGATHER_LONG_MSG_BYTES })).toBe('ring');
    expect(selectAlgorithm('allgather', { size: 6, bytes: ALLGATHER_SHORT_MSG_BYTES - 1 })).toBe('bruck');
    expect(selectAlgorithm('allgather', { size: 6, bytes: ALLGATHER_SHORT_MSG_BYTES })).toBe('ring');
    expect(selectAlgorithm('allgather', { size: 6, bytes: 0, objects: true })).toBe('bruck');
    expect(selectAlgorithm('alltoall', { size: 6, bytes: ALLTOALL_MEDIUM_MSG_BYTES })).toBe('scattered');
    expect(selectAlgorithm('alltoall', { size: 6, bytes: ALLTOALL_MEDIUM_MSG_BYTES + 1 })).toBe('pairwise');
  });

  it('reduce-scatter: allreduce-based below the long threshold and for user ops, pairwise above', () => {
    resetSelection({});
    expect(selectAlgorithm('reduce_scatter', { size: 8, bytes: REDUCE_SCATTER_LONG_MSG_BYTES - 1, ...big })).toBe('allreduce');
    expect(selectAlgorithm('reduce_scatter_block', { size: 8, bytes: REDUCE_SCATTER_LONG_MSG_BYTES, ...big })).toBe('pairwise');
    expect(selectAlgorithm('reduce_scatter', { size: 8, bytes: 1e9, ...big, userOp: true })).toBe('allreduce');
  });
});

describe('TSMPI_COLL_<NAME> overrides', () => {
  it('force any listed algorithm, case-insensitively; auto or empty means the table', () => {
    for (const [coll, algorithms] of Object.entries(COLL_ALGORITHMS)) {
      for (const algorithm of algorithms) {
        resetSelection({ [`TSMPI_COLL_${coll.toUpperCase()}`]: algorithm.toUpperCase() });
        expect(collOverrides()).toEqual({ [coll]: algorithm });
      }
    }
    resetSelection({ TSMPI_COLL_BCAST: 'auto', TSMPI_COLL_GATHER: '' });
    expect(collOverrides()).toEqual({});
  });

  it('fall back when the forced algorithm cannot run the call', () => {
    resetSelection({ TSMPI_COLL_ALLREDUCE: 'ring', TSMPI_COLL_ALLGATHER: 'recursive_doubling', TSMPI_COLL_BCAST: 'scatter_allgather' });
    expect(selectAlgorithm('allreduce', { size: 5, bytes: 8, commute: true })).toBe('ring');
    expect(selectAlgorithm('allreduce', { size: 5, bytes: 8, commute: false })).toBe('rabenseifner');
    expect(selectAlgorithm('allreduce', { size: 5, bytes: 8, userOp: true })).toBe('recursive_doubling');
    expect(selectAlgorithm('allreduce', { size: 5, bytes: 0, objects: true })).toBe('recursive_doubling');
    expect(selectAlgorithm('allgather', { size: 8, bytes: 8 })).toBe('recursive_doubling');
    expect(selectAlgorithm('allgather', { size: 6, bytes: 8 })).toBe('bruck');
    expect(selectAlgorithm('bcast', { size: 2, bytes: 8 })).toBe('scatter_allgather');
    expect(selectAlgorithm('bcast', { size: 2, bytes: 0, objects: true })).toBe('binomial');
  });

  it('are read once, until reset', () => {
    const env: NodeJS.ProcessEnv = { TSMPI_COLL_SCATTER: 'linear' };
    resetSelection(env);
    expect(selectAlgorithm('scatter', { size: 4, bytes: 0 })).toBe('linear');
    env.TSMPI_COLL_SCATTER = 'binomial';
    expect(selectAlgorithm('scatter', { size: 4, bytes: 0 })).toBe('linear');
    resetSelection(env);
    expect(selectAlgorithm('scatter', { size: 4, bytes: 0 })).toBe('binomial');
  });

  it('reject unknown algorithms and collectives with TSMPI_ERR_ARG naming the valid ones', () => {
    resetSelection({ TSMPI_COLL_ALLREDUCE: 'fast' });
    try {
      selectAlgorithm('bcast', { size: 2, bytes: 0 });
      expect.unreachable();
    } catch (err) {
      expect(isTsmpiError(err, 'TSMPI_ERR_ARG')).toBe(true);
      expect((err as Error).message).toContain('recursive_doubling, rabenseifner, ring, auto');
    }
    resetSelection({ TSMPI_COLL_ALLREDUCES: 'ring' });
    expect(() => selectAlgorithm('bcast', { size: 2, bytes: 0 })).toThrow(/TSMPI_COLL_ALLREDUCE\b/);
    resetSelection({ TSMPI_COLL_ALLREDUCE: 'ring' });
    expect(selectAlgorithm('allreduce', { size: 2, bytes: 0, commute: true })).toBe('ring');
  });
});
