// The runtime's configuration (runtime/env/config.ts): every rank checks its TSMPI_* variables as it
// starts, with the table tsmpirun checks its own environment against before starting any rank
// (test/unit/cli.test.ts): an unknown name or a bad value is TSMPI_ERR_ARG at once, naming only what
// users may set, while the variables tsmpirun sets for its ranks pass.
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../runtime/env/config.js';
import { expectTsmpiError } from '../helpers/errors.js';

describe('readConfig', () => {
  it('refuses an unknown TSMPI_ variable, offering the user-facing ones and no internal one', () => {
    const error = expectTsmpiError(() => readConfig({ TSMPI_EAGERLIMIT: '1024' }), 'TSMPI_ERR_ARG') as Error;
    expect(error.message).toBe('TSMPI_ERR_ARG: unknown variable TSMPI_EAGERLIMIT; the variables users may set are: '
      + 'TSMPI_RANKS, TSMPI_TRANSPORT, TSMPI_EAGER_LIMIT, TSMPI_TCP_HOST, TSMPI_LAUNCHER_ADDRESS, TSMPI_PMI, '
      + 'TSMPI_PROFILE, TSMPI_TRACE, TSMPI_COMM_MATRIX, TSMPI_OBSERVE_EVENTS, TSMPI_COLL_<NAME>');
    for (const internal of ['TSMPI_CONTROL', 'TSMPI_RANK', 'TSMPI_SECRET_FD', 'TSMPI_JOB_DIR', 'TSMPI_NODE_EXTRA_CA_CERTS']) {
      expect(error.message).not.toMatch(new RegExp(`\\b${internal}\\b`));
    }
  });

  it('accepts what tsmpirun sets for its ranks', () => {
    const config = readConfig({
      TSMPI_CONTROL: 'ws://127.0.0.1:9', TSMPI_RANK: '1', TSMPI_SIZE: '2', TSMPI_SECRET_FD: '3', TSMPI_JOB_DIR: '/tmp/j',
      TSMPI_SCRIPT: '/p/app.ts', TSMPI_BUNDLE_DIR: '/tmp/b', TSMPI_NODE_EXTRA_CA_CERTS: '/etc/ca.pem',
    });
    expect(config).toMatchObject({ control: 'ws://127.0.0.1:9', rank: 1, size: 2, secretFd: 3, jobDir: '/tmp/j', script: '/p/app.ts' });
  });

  it('refuses a bad collective override as the rank starts, not at its first collective', () => {
    expectTsmpiError(() => readConfig({ TSMPI_COLL_ALLREDUCE: 'bogus' }), 'TSMPI_ERR_ARG', /valid: recursive_doubling, rabenseifner, ring, auto/);
    expectTsmpiError(() => readConfig({ TSMPI_COLL_BCST: 'binomial' }), 'TSMPI_ERR_ARG', /unknown collective in TSMPI_COLL_BCST/);
    expect(() => readConfig({ TSMPI_COLL_ALLREDUCE: 'ring', TSMPI_COLL_BCAST: 'auto' })).not.toThrow();
  });

  it('refuses bad values of the user settings', () => {
    expectTsmpiError(() => readConfig({ TSMPI_TRANSPORT: 'udp' }), 'TSMPI_ERR_ARG', /expected unix or tcp/);
    expectTsmpiError(() => readConfig({ TSMPI_EAGER_LIMIT: 'lots' }), 'TSMPI_ERR_ARG', /TSMPI_EAGER_LIMIT=lots is not an integer/);
  });
});
