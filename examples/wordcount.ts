// Word frequency: rank 0 reads a text file and scatters its lines (one contiguous chunk per rank), every
// rank counts the words of its lines into a Map, and a reduce with a user op (Op.create, merging two maps
// by adding counts) brings the total to rank 0, which prints the most frequent words.
//
//   tsmpirun -np 4 examples/wordcount.ts [file=examples/data/public-domain.txt] [top=10]
//   → Counted 2765 words (825 distinct) in 292 lines on 4 ranks
//       1. the  232
//       2. and  175
//       …
//
// A word is a run of letters a–z with inner apostrophes ("nature's"), case folded; anything else
// separates words. Ties are broken alphabetically, so the output depends on the text only, never on the
// rank count. The default text (examples/data/public-domain.txt) is public-domain prose: Genesis 1 and
// Psalm 23 (King James Version), the Declaration of Independence, the Preamble of the US Constitution,
// the Gettysburg Address and part of Lincoln's Second Inaugural Address.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMM_WORLD as comm, Op } from 'tsmpi';

const file = process.argv[2] ?? fileURLToPath(new URL('./data/public-domain.txt', import.meta.url));
const top = Number(process.argv[3] ?? 10);

/** `items` cut into `parts` contiguous chunks whose lengths differ by at most one. */
function chunks<T>(items: readonly T[], parts: number): T[][] {
  return Array.from({ length: parts }, (_, i) =>
    items.slice(Math.floor((i * items.length) / parts), Math.floor(((i + 1) * items.length) / parts)));
}

function countWords(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    for (const word of line.toLowerCase().match(/[a-z]+(?:'[a-z]+)*/g) ?? []) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

/** The user op: the sum of two word counts (a new Map; neither operand is changed). */
const mergeCounts = Op.create((a: Map<string, number>, b: Map<string, number>) => {
  const merged = new Map(a);
  for (const [word, n] of b) merged.set(word, (merged.get(word) ?? 0) + n);
  return merged;
});

let lines: string[] = [];
if (comm.rank === 0) {
  lines = readFileSync(file, 'utf8').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop(); // the newline ending the last line does not start another
}
const mine = await comm.scatter(comm.rank === 0 ? chunks(lines, comm.size) : undefined, 0);
const total = await comm.reduce(countWords(mine), mergeCounts, 0);

if (comm.rank === 0) {
  const ranked = [...total!].sort(([w1, n1], [w2, n2]) => n2 - n1 || (w1 < w2 ? -1 : w1 > w2 ? 1 : 0));
  const words = ranked.reduce((sum, [, n]) => sum + n, 0);
  console.log(`Counted ${words} words (${ranked.length} distinct) in ${lines.length} lines on ${comm.size} ranks`);
  const shown = ranked.slice(0, top);
  const width = Math.max(0, ...shown.map(([w]) => w.length));
  shown.forEach(([word, n], i) => console.log(`${String(i + 1).padStart(3)}. ${word.padEnd(width)} ${n}`));
}
