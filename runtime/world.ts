// Joining the job: what `import 'tsmpi'` does once per rank, kept out of the runtime's modules so that
// loading them has no side effects (the one-file runtime is loaded, from V8's code cache, before any
// rank joins; see runtime/env/bundles.ts).
import { bootstrap } from './env/bootstrap.js';
import { installFinalize } from './env/finalize.js';
import { Comm, newCommShared } from './comm/comm.js';

export interface World {
  /** Every rank of the job. */
  readonly COMM_WORLD: Comm;
  /** This rank alone. */
  readonly COMM_SELF: Comm;
  /**
   * Optional (the rank finalizes by itself once its code is done): waits until every rank has
   * finished, then closes this rank's connections. Communication after it fails.
   */
  readonly finalize: () => Promise<void>;
}

/** Under tsmpirun or a PMI launcher the rank connects to its peers; run alone it is a job of one rank. */
export async function joinWorld(): Promise<World> {
  const joined = await bootstrap();
  const worldMembers = new Int32Array(joined.engine.size).map((_, i) => i);

  function abortJob(errorcode: number): never {
    joined.control?.abort(errorcode, `called abort(${errorcode})`);
    process.exit(errorcode);
  }

  const shared = newCommShared(joined.engine, abortJob);

  // Internal statistics hook for tests of algorithm costs (not part of the public API).
  Object.defineProperty(globalThis, Symbol.for('tsmpi.statistics'), {
    value: () => ({ messagesSent: joined.engine.messagesSent }),
    configurable: true,
  });

  return {
    COMM_WORLD: new Comm({ shared, context: 0, members: worldMembers, name: 'COMM_WORLD' }),
    COMM_SELF: new Comm({ shared, context: 2, members: Int32Array.of(joined.engine.rank), name: 'COMM_SELF' }),
    finalize: installFinalize(joined.engine, joined.control, joined.observe),
  };
}
