// Line-buffered forwarding of ranks' output (launcher/stdio.ts): whatever the pipe chunking, the sink sees
// whole lines (one write per chunk's complete lines), tags on every line, multi-byte characters intact,
// the per-rank file byte-identical to what the rank wrote.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RankOutput, outputFilePath, type OutputSink } from '../../launcher/stdio.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tsmpi-stdio-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Remembers every write separately, so tests can check what went out together. */
class RecordingSink implements OutputSink {
  readonly writes: Buffer[] = [];
  write(text: string | Uint8Array): void {
    this.writes.push(typeof text === 'string' ? Buffer.from(text) : Buffer.from(text));
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
  get text(): string {
    return this.bytes.toString('utf8');
  }
}

/** Deterministic, so a failing chunking can be reproduced from the seed in the test name. */
function randomGenerator(seed: number): (below: number) => number {
  let state = seed >>> 0 || 1;
  return (below) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % below;
  };
}

function randomChunks(bytes: Uint8Array, seed: number, maxChunk = 17): Uint8Array[] {
  const random = randomGenerator(seed);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const size = 1 + random(maxChunk);
    chunks.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  return chunks;
}

function forward(options: { rank?: number; tag?: boolean; file?: string }, chunks: Uint8Array[]): RecordingSink {
  const sink = new RecordingSink();
  const output = new RankOutput({ rank: options.rank ?? 0, stream: 'stdout', sink, tag: options.tag ?? false, file: options.file });
  for (const chunk of chunks) output.push(chunk);
  output.end();
  return sink;
}

const MULTILINE_TEXT = [
  'plain ascii line',
  'héllo wörld — ünïcödé',
  '日本語のテキスト、改行をまたぐ',
  'emoji 🎉🚀👩‍💻 and 𝄞 (4-byte)',
  '',
  'crlf line\r',
  'progress 10%\r progress 50%\r progress 100%',
  '\t tabs and spaces   ',
  'Ω≈ç√∫˜µ≤≥÷',
].join('\n') + '\n';

/** What tagging should make of `text` (which ends with a newline); split on '\n' only, as the launcher does. */
function expectedTagged(text: string, rank: number): string {
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => `[${rank}] ${line}\n`)
    .join('');
}

describe('outputFilePath', () => {
  it('uses the Open MPI layout DIR/1/rank.R/stream', () => {
    expect(outputFilePath('/out', 0, 'stdout')).toBe('/out/1/rank.0/stdout');
    expect(outputFilePath('/out', 12, 'stderr')).toBe('/out/1/rank.12/stderr');
  });
});

describe('RankOutput lines', () => {
  const textBytes = Buffer.from(MULTILINE_TEXT, 'utf8');

  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20])(
    'random chunking (seed %i) gives exactly the same lines, each write made of whole lines',
    (seed) => {
      const sink = forward({}, randomChunks(textBytes, seed, 1 + (seed % 9) * 4));
      expect(sink.bytes.equals(textBytes)).toBe(true);
      for (const write of sink.writes) expect(write[write.length - 1]).toBe(0x0a);
    },
  );

  it('one byte at a time keeps every multi-byte character intact', () => {
    const sink = forward({}, [...textBytes].map((byte) => Uint8Array.of(byte)));
    expect(sink.text).toBe(MULTILINE_TEXT);
    expect(sink.writes).toHaveLength(MULTILINE_TEXT.split('\n').length - 1);
  });

  it("a chunk's complete lines go out in one write; the rest waits for its newline", () => {
    const sink = new RecordingSink();
    const output = new RankOutput({ rank: 0, stream: 'stdout', sink, tag: false });
    output.push(Buffer.from('a\nb\nc'));
    expect(sink.writes.map(String)).toEqual(['a\nb\n']);
    output.push(Buffer.from('c'));
    expect(sink.writes).toHaveLength(1);
    output.push(Buffer.from('c\nd\ne\n'));
    expect(sink.writes.map(String)).toEqual(['a\nb\n', 'ccc\nd\ne\n']);
    output.end();
    expect(sink.writes).toHaveLength(2);
  });

  it('\\r\\n split between chunks stays one line ending', () => {
    const sink = forward({ tag: true, rank: 1 }, [Buffer.from('one\r'), Buffer.from('\ntwo\r'), Buffer.from('\n')]);
    expect(sink.text).toBe('[1] one\r\n[1] two\r\n');
    expect(sink.writes.map(String)).toEqual(['[1] one\r\n', '[1] two\r\n']);
  });

  it('end() flushes a last partial line with a newline, once', () => {
    const sink = new RecordingSink();
    const output = new RankOutput({ rank: 0, stream: 'stderr', sink, tag: false });
    output.push(Buffer.from('done\nno newline'));
    output.end();
    output.end();
    expect(sink.writes.map(String)).toEqual(['done\n', 'no newline\n']);
  });

  it('end() with nothing pending writes nothing', () => {
    expect(forward({}, [Buffer.from('x\n')]).writes.map(String)).toEqual(['x\n']);
    expect(forward({ tag: true }, []).writes).toEqual([]);
  });

  it('push after end() is a bug and says so', () => {
    const output = new RankOutput({ rank: 3, stream: 'stdout', sink: new RecordingSink(), tag: false });
    output.end();
    expect(() => output.push(Buffer.from('late\n'))).toThrow(/rank 3 stdout: push after end/);
  });

  it('empty chunks are harmless', () => {
    const sink = forward({ tag: true }, [new Uint8Array(0), Buffer.from('a'), new Uint8Array(0), Buffer.from('\n')]);
    expect(sink.text).toBe('[0] a\n');
  });

  it('accepts plain Uint8Array chunks', () => {
    const sink = forward({ tag: true, rank: 2 }, [new TextEncoder().encode('x\ny'), new TextEncoder().encode('\n')]);
    expect(sink.text).toBe('[2] x\n[2] y\n');
  });

  it('a 10 MB line without a newline is held whole and flushed at end()', () => {
    const piece = Buffer.alloc(64 * 1024, 'é'); // 2-byte characters, split across every chunk edge
    const chunks = Array.from({ length: 160 }, () => piece.subarray(1, piece.length - 2)).concat([Buffer.from('tail')]);
    const totalBytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const sink = new RecordingSink();
    const output = new RankOutput({ rank: 5, stream: 'stdout', sink, tag: true });
    for (const chunk of chunks) output.push(chunk);
    expect(sink.writes).toHaveLength(0);
    output.end();
    expect(sink.writes).toHaveLength(1);
    const written = sink.writes[0]!;
    expect(written.length).toBe('[5] '.length + totalBytes + 1);
    expect(written.subarray(0, 4).toString()).toBe('[5] ');
    expect(written.subarray(4, -1).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('a line beyond maxPendingBytes is forwarded in pieces, tagged once', () => {
    const sink = new RecordingSink();
    const output = new RankOutput({ rank: 1, stream: 'stdout', sink, tag: true, maxPendingBytes: 8 });
    output.push(Buffer.from('abcde'));
    expect(sink.writes).toHaveLength(0);
    output.push(Buffer.from('fghij'));
    output.push(Buffer.from('klm\nnext\n'));
    output.push(Buffer.from('0123456789'));
    output.end();
    expect(sink.text).toBe('[1] abcdefghijklm\n[1] next\n[1] 0123456789\n');
    expect(sink.writes.map(String)).toEqual(['[1] abcdefghij', 'klm\n[1] next\n', '[1] 0123456789', '\n']);
  });
});

describe('RankOutput tagging', () => {
  it('prefixes every line with "[R] "', () => {
    const sink = forward({ tag: true, rank: 7 }, [Buffer.from('a\nbb\n\nccc')]);
    expect(sink.text).toBe('[7] a\n[7] bb\n[7] \n[7] ccc\n');
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('random chunking (seed %i) gives the same tagged lines', (seed) => {
    const textBytes = Buffer.from(MULTILINE_TEXT, 'utf8');
    const expected = expectedTagged(MULTILINE_TEXT, 12);
    const sink = forward({ tag: true, rank: 12 }, randomChunks(textBytes, seed * 7919));
    expect(sink.text).toBe(expected);
    for (const write of sink.writes) {
      expect(write.subarray(0, 5).toString()).toBe('[12] ');
      expect(write[write.length - 1]).toBe(0x0a);
    }
  });

  it('handles long and short lines in one chunk (both copy paths)', () => {
    const long = 'L'.repeat(1000);
    const text = `${long}\ns\n${long}\n\n`;
    expect(forward({ tag: true, rank: 0 }, [Buffer.from(text)]).text).toBe(`[0] ${long}\n[0] s\n[0] ${long}\n[0] \n`);
  });
});

describe('RankOutput file', () => {
  it('creates the folders and writes the untagged bytes exactly, without the added final newline', () => {
    const directory = join(scratch, 'run1');
    const file = outputFilePath(directory, 3, 'stdout');
    const textBytes = Buffer.from(MULTILINE_TEXT + 'partial', 'utf8');
    const sink = forward({ tag: true, rank: 3, file }, randomChunks(textBytes, 99));
    expect(readFileSync(file).equals(textBytes)).toBe(true);
    expect(sink.text).toBe(expectedTagged(MULTILINE_TEXT + 'partial\n', 3));
  });

  it('creates an empty file for a rank that prints nothing, and truncates an old one', () => {
    const file = outputFilePath(join(scratch, 'run2'), 0, 'stderr');
    forward({ file }, [Buffer.from('old contents\n')]);
    forward({ file }, []);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file).length).toBe(0);
  });
});

describe('two ranks into one sink', () => {
  it('never splits a line, whatever the chunking and order', () => {
    const lines = (rank: number): string[] =>
      Array.from({ length: 200 }, (_, index) => `rank ${rank} line ${index} ${'ü'.repeat(index % 13)}🎉`);
    const sink = new RecordingSink();
    const outputs = [0, 1].map((rank) => new RankOutput({ rank, stream: 'stdout', sink, tag: true }));
    const chunksOf = [0, 1].map((rank) => randomChunks(Buffer.from(lines(rank).join('\n') + '\n'), rank + 42, 40));
    const random = randomGenerator(2024);
    const next = [0, 0];
    while (next[0]! < chunksOf[0]!.length || next[1]! < chunksOf[1]!.length) {
      const rank = next[0]! >= chunksOf[0]!.length ? 1 : next[1]! >= chunksOf[1]!.length ? 0 : random(2);
      outputs[rank]!.push(chunksOf[rank]![next[rank]!++]!);
    }
    outputs.forEach((output) => output.end());

    const received = sink.text.split('\n').slice(0, -1);
    expect(received).toHaveLength(400);
    for (const rank of [0, 1]) {
      const own = received.filter((line) => line.startsWith(`[${rank}] `)).map((line) => line.slice(4));
      expect(own).toEqual(lines(rank));
    }
    // Each write is whole lines of a single rank.
    for (const write of sink.writes) {
      const text = write.toString('utf8');
      expect(text.endsWith('\n')).toBe(true);
      const tags = new Set(text.split('\n').slice(0, -1).map((line) => line.slice(0, 4)));
      expect(tags.size).toBe(1);
    }
  });
});
