// A lazy, unordered map over the files of a directory tree with a task pool (tsmpi/futures): rank 0
// walks the tree with an async generator, and the workers read and digest each file (size, lines,
// SHA-256) as rank 0 hands the paths out, a few chunks ahead of the results it has taken; results
// come back in the order they finish. Ranks read the files themselves: they must see the same paths
// (one host, or a shared file system).
//
//   tsmpirun -np 3 examples/map-files.ts [directory=examples]
//   → <sha256, 16 hex digits>  <bytes>  <lines>  <path>   one line per file, sorted by path
//     <files> files, <bytes> bytes, <lines> lines
import { createHash } from 'node:crypto';
import { opendir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { COMM_WORLD as comm } from 'tsmpi';
import { task, withExecutor } from 'tsmpi/futures';

interface Digest {
  path: string;
  bytes: number;
  lines: number;
  sha256: string;
}

const digest = task('digest', async (path: string): Promise<Digest> => {
  const data = await readFile(path);
  let lines = 0;
  for (let at = data.indexOf(10); at >= 0; at = data.indexOf(10, at + 1)) lines++;
  return { path, bytes: data.length, lines, sha256: createHash('sha256').update(data).digest('hex') };
});

/** The regular files below `dir`, depth first, as the directory listing gives them. */
async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of await opendir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

const root = resolve(process.argv[2] ?? join(import.meta.dirname, '.'));

const digests = await withExecutor(comm, async (executor) => {
  const found: Digest[] = [];
  // ordered: false, chunksize 'auto': the number of files is unknown, so chunks start at one file
  // and grow while files are quick to digest.
  for await (const d of executor.map(digest, walk(root), { ordered: false })) found.push(d);
  return found;
});

if (digests) {
  digests.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const d of digests) console.log(`${d.sha256.slice(0, 16)}  ${String(d.bytes).padStart(9)}  ${String(d.lines).padStart(7)}  ${relative(root, d.path)}`);
  const bytes = digests.reduce((a, d) => a + d.bytes, 0), lines = digests.reduce((a, d) => a + d.lines, 0);
  console.log(`${digests.length} files, ${bytes} bytes, ${lines} lines`);
}
