// Unit tests of launcher/spawn/ca-certs.ts certificatesNotBundled: which certificates of a
// NODE_EXTRA_CA_CERTS file local ranks still need, and which files are left alone. The jobs that prove
// the ranks' trust is unchanged are in test/integration/launcher.test.ts ("NODE_EXTRA_CA_CERTS").
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificatesNotBundled } from '../../launcher/spawn/ca-certs.js';
import { FIXTURES } from '../helpers/job.js';

const testCa = readFileSync(join(FIXTURES, 'tls', 'ca.pem'), 'utf8').trim();
const [rootA, rootB] = rootCertificates;

describe('certificatesNotBundled', () => {
  it('keeps the certificates Node does not bundle, in order, whatever their line breaks', () => {
    const rewrapped = testCa.replace(/\n/g, '\r\n');
    expect(certificatesNotBundled(`${rootA}\n${testCa}\n${rootB}\n`, rootCertificates)).toBe(`${testCa}\n`);
    expect(certificatesNotBundled(`${rewrapped}\r\n${rootA}`, rootCertificates)).toBe(`${rewrapped}\n`);
    // A bundled root whose base64 is wrapped differently is still the same certificate.
    const body = rootA!.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    const oneLine = `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`;
    expect(certificatesNotBundled(oneLine, rootCertificates)).toBe('');
  });

  it('is empty for bundled roots only, an empty file, and comments around the blocks', () => {
    expect(certificatesNotBundled(`${rootA}\n${rootB}`, rootCertificates)).toBe('');
    expect(certificatesNotBundled('', rootCertificates)).toBe('');
    expect(certificatesNotBundled(`# Root A\n${rootA}\n# the test CA\n${testCa}\n`, rootCertificates)).toBe(`${testCa}\n`);
  });

  it('leaves alone a file holding anything Node would read differently', () => {
    const corrupt = testCa.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!');
    expect(certificatesNotBundled(`${rootA}\n${corrupt}`, rootCertificates)).toBeUndefined();
    expect(certificatesNotBundled(`${testCa}\n-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n`, rootCertificates)).toBeUndefined();
    expect(certificatesNotBundled(`${testCa}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`, rootCertificates)).toBeUndefined();
  });
});
