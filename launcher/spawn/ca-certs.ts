// NODE_EXTRA_CA_CERTS for local ranks, without the start-up cost Node 20 attaches to it.
//
// When the variable is set, Node 20 builds its whole root certificate store at process start, bundled
// roots and the file's certificates, whether or not the process ever uses TLS (nodejs/node#40524;
// later Node versions load them lazily). Every rank is a process start: with this machine's
// 144-certificate bundle that is 35 ms of CPU per rank (node -e 0: 57 against 21 ms), ~0.3 s of
// `-np 16` on 2 cores.
//
// A process trusts Node's bundled roots plus the file's certificates. A certificate of the file that is
// a bundled root already adds nothing, so local ranks get a file of the others only (here 22 of 144:
// 41 ms per start), or no variable at all when none is left. The trust of the rank is the same set.
// The rank puts the user's value back into process.env as it starts (runtime/env/bootstrap.ts), so
// whatever it runs inherits the original.
//
// Only where that equivalence is certain: the file holds nothing but certificates that parse (else Node
// would stop at the first bad one and warn, and the rank gets the variable unchanged), and no node
// option replaces the bundled roots (--use-openssl-ca). The reduced file is made once per version of
// the file and of Node, in the cache directory.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { cacheFileFor, touchCacheFile, writeCacheFile } from '../../runtime/env/bundles.js';
import { USER_EXTRA_CA_CERTS_VARIABLE } from '../../runtime/env/config.js';

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;
/** Reduced files kept (one per version of a certificate file and of Node): ranks may be starting with any. */
const REDUCED_FILES_KEPT = 64;

function base64Body(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

/**
 * The certificates of `pemText` that are not in `bundled`, as PEM text ('' when there are none), or
 * undefined when the text holds anything but certificates that parse (text outside the blocks, such as
 * the comment lines some distributions put before each one, is allowed: PEM readers skip it).
 */
export function certificatesNotBundled(pemText: string, bundled: readonly string[]): string | undefined {
  const blocks = pemText.match(CERTIFICATE_BLOCK) ?? [];
  if (pemText.replace(CERTIFICATE_BLOCK, '').includes('-----')) return undefined; // other PEM blocks
  const known = new Set(bundled.map(base64Body));
  const kept: string[] = [];
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      return undefined; // Node would stop reading the file here (and warn): not a file to reduce
    }
    if (!known.has(base64Body(block))) kept.push(block);
  }
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}

function replacesBundledRoots(nodeOptions: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return [...nodeOptions, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].includes('--use-openssl-ca');
}

/**
 * Path of the reduced file for `file` (its identity and Node's version in the name); '' when no
 * certificate is left; undefined when the file is not one to reduce.
 */
function reducedFile(file: string): string | undefined {
  const cached = cacheFileFor('ca', resolve(file), 'pem');
  try {
    const empty = statSync(cached).size === 0;
    touchCacheFile(cached);
    return empty ? '' : cached;
  } catch {
    // not made yet
  }
  // node:tls only now: loading it costs the launcher's every start a few ms.
  const { rootCertificates } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  const reduced = certificatesNotBundled(readFileSync(file, 'utf8'), rootCertificates);
  if (reduced === undefined) return undefined;
  writeCacheFile(cached, reduced, REDUCED_FILES_KEPT);
  return reduced === '' ? '' : cached;
}

/**
 * The environment of local ranks started with the node options `nodeOptions`, given the job's `env`:
 * with NODE_EXTRA_CA_CERTS reduced (see the header) where that is certain to change nothing, else `env`.
 */
export function withReducedExtraCaCerts(env: NodeJS.ProcessEnv, nodeOptions: readonly string[]): NodeJS.ProcessEnv {
  const value = env.NODE_EXTRA_CA_CERTS;
  if (!value || replacesBundledRoots(nodeOptions, env)) return env;
  let reduced: string | undefined;
  try {
    reduced = reducedFile(value);
  } catch {
    // an unreadable file or cache: the ranks get the variable as it is (and Node its usual warning)
  }
  if (reduced === undefined) return env;
  const changed: NodeJS.ProcessEnv = { ...env, [USER_EXTRA_CA_CERTS_VARIABLE]: value };
  if (reduced === '') delete changed.NODE_EXTRA_CA_CERTS;
  else changed.NODE_EXTRA_CA_CERTS = reduced;
  return changed;
}
