// Forwarding of one rank's stdout or stderr to the launcher's own, line by line (API.md: "Ranks'
// stdout/stderr reach the terminal line by line, never interleaved mid-line").
//
// Works on bytes, never on decoded text: the only byte looked for is '\n' (0x0A), which never occurs inside
// a multi-byte UTF-8 sequence, so characters split across pipe chunks pass through intact and no decoder
// state is needed. '\r\n' endings and lone '\r' (progress bars) are forwarded as they are.
//
// Every complete line a chunk finishes goes out in a single sink.write call, and a partial line never goes
// out on its own (except past maxPendingBytes, see below); since all ranks' RankOutputs write to the sink
// from the one launcher thread, two ranks' lines can only ever be interleaved whole.

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface OutputSink {
  write(text: string | Uint8Array): void;
}

export interface RankOutputOptions {
  rank: number;
  stream: 'stdout' | 'stderr';
  sink: OutputSink;
  /** Prefix every line with `[R] `. */
  tag: boolean;
  /** Absolute path of a per-rank file that also gets the rank's bytes, untagged; its folders are created. */
  file?: string;
  /**
   * A line longer than this is forwarded in pieces rather than held whole, so a rank writing megabytes
   * without a newline (binary data, endless '\r' progress) cannot exhaust the launcher's memory.
   */
  maxPendingBytes?: number;
}

const NEWLINE = 0x0a;
const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** Open MPI's --output-filename layout: DIR/1/rank.R/stdout (the 1 is the job number). */
export function outputFilePath(dir: string, rank: number, stream: 'stdout' | 'stderr'): string {
  return join(dir, '1', `rank.${rank}`, stream);
}

export class RankOutput {
  readonly rank: number;
  readonly stream: 'stdout' | 'stderr';
  readonly #sink: OutputSink;
  readonly #tag: Buffer | undefined;
  readonly #maxPendingBytes: number;
  #fileDescriptor: number | undefined;
  /** The current unfinished line, as the chunks' own views: joined once when the line completes (O(n)). */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** False only after a forced flush of a long line: its continuation must not get a second tag. */
  #atLineStart = true;
  #ended = false;

  constructor(options: RankOutputOptions) {
    this.rank = options.rank;
    this.stream = options.stream;
    this.#sink = options.sink;
    this.#tag = options.tag ? Buffer.from(`[${options.rank}] `, 'latin1') : undefined;
    this.#maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    if (options.file !== undefined) {
      mkdirSync(dirname(options.file), { recursive: true });
      this.#fileDescriptor = openSync(options.file, 'w');
    }
  }

  /**
   * Takes a chunk from the child's pipe. Like any stream write, the chunk must not be modified afterwards:
   * complete lines are passed on as views of it, without copying.
   */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error(`RankOutput for rank ${this.rank} ${this.stream}: push after end()`);
    if (chunk.length === 0) return;
    // The file is a faithful copy of what the rank wrote, so it needs no line assembly: write it through.
    // Synchronous, so nothing is lost when the launcher exits right after the job.
    if (this.#fileDescriptor !== undefined) writeFully(this.#fileDescriptor, chunk);

    const lastNewline = chunk.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      this.#holdPartialLine(chunk);
      return;
    }
    const completeLines = lastNewline === chunk.length - 1 ? chunk : chunk.subarray(0, lastNewline + 1);
    this.#emit(completeLines, true);
    if (lastNewline < chunk.length - 1) this.#holdPartialLine(chunk.subarray(lastNewline + 1));
  }

  /** The pipe closed: a last line without its newline is completed with one; the file is closed. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#pendingBytes > 0 || !this.#atLineStart) this.#emit(new Uint8Array([NEWLINE]), true);
    if (this.#fileDescriptor !== undefined) {
      closeSync(this.#fileDescriptor);
      this.#fileDescriptor = undefined;
    }
  }

  #holdPartialLine(piece: Uint8Array): void {
    this.#pending.push(piece);
    this.#pendingBytes += piece.length;
    if (this.#pendingBytes > this.#maxPendingBytes) this.#emit(new Uint8Array(0), false);
  }

  /**
   * Writes the pending partial line followed by `bytes` in one sink.write. With `endsAtLineEnd`, `bytes`
   * ends with '\n' and the next byte starts a line; otherwise (a forced flush) we are inside a line.
   */
  #emit(bytes: Uint8Array, endsAtLineEnd: boolean): void {
    const tag = this.#tag;
    const leading = this.#pending;
    let output: Uint8Array;
    if (tag === undefined) {
      output = leading.length === 0 ? bytes : Buffer.concat([...leading, bytes], this.#pendingBytes + bytes.length);
    } else {
      output = tagLines(tag, this.#atLineStart, leading, this.#pendingBytes, bytes);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#atLineStart = endsAtLineEnd;
    if (output.length > 0) this.#sink.write(output);
  }
}

/**
 * Copies `leading` then `bytes` into one buffer with `tag` before each line: at the start when
 * `startsAtLineStart`, and after every '\n' except a final one (the next line has not begun yet).
 */
function tagLines(
  tag: Uint8Array,
  startsAtLineStart: boolean,
  leading: readonly Uint8Array[],
  leadingBytes: number,
  bytes: Uint8Array,
): Buffer {
  // A newline never appears in `leading` (it is an unfinished line), so only `bytes` needs counting.
  let newlines = 0;
  for (let at = bytes.indexOf(NEWLINE); at >= 0; at = bytes.indexOf(NEWLINE, at + 1)) newlines++;
  const lastIsNewline = bytes.length > 0 && bytes[bytes.length - 1] === NEWLINE;
  const tagCount = (startsAtLineStart ? 1 : 0) + newlines - (lastIsNewline ? 1 : 0);
  const output = Buffer.allocUnsafe(leadingBytes + bytes.length + tagCount * tag.length);

  let written = 0;
  if (startsAtLineStart) {
    output.set(tag, written);
    written += tag.length;
  }
  for (const piece of leading) {
    output.set(piece, written);
    written += piece.length;
  }
  let lineStart = 0;
  for (let at = bytes.indexOf(NEWLINE); at >= 0; at = bytes.indexOf(NEWLINE, lineStart)) {
    written += copyRange(bytes, lineStart, at + 1, output, written);
    lineStart = at + 1;
    if (lineStart === bytes.length) break;
    output.set(tag, written);
    written += tag.length;
  }
  written += copyRange(bytes, lineStart, bytes.length, output, written);
  return output;
}

// Short lines dominate real output; for them a byte loop beats the fixed cost of a native copy call.
const SHORT_COPY_BYTES = 64;

function copyRange(source: Uint8Array, start: number, end: number, target: Uint8Array, targetStart: number): number {
  const length = end - start;
  if (length <= SHORT_COPY_BYTES) {
    for (let index = 0; index < length; index++) target[targetStart + index] = source[start + index]!;
  } else {
    target.set(source.subarray(start, end), targetStart);
  }
  return length;
}

function writeFully(fileDescriptor: number, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fileDescriptor, bytes, offset);
}
