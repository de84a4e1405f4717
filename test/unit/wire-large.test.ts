// A DATA frame larger than 2^31 bytes, received in 64 MiB chunks into a posted destination:
// checks that no length or offset goes through 32-bit arithmetic. Allocates ~2.1 GiB.
import { expect, it } from 'vitest';
import { FrameKind, HEADER_BYTES, writeHeader, type FrameHeader } from '../../runtime/wire/header.js';
import { FrameParser } from '../../runtime/wire/parser.js';

const CHUNK_BYTES = 64 * 1024 * 1024;
// One chunk more than 2^31, so the parser also holds a partial fill above 2^31 between pushes.
const PAYLOAD_BYTES = 2 ** 31 + CHUNK_BYTES + 12_345;

/** The filler byte at offset r of every chunk (before each chunk's 4-byte stamp is written). */
function filler(r: number): number {
  return (r * 31 + (r >>> 16)) & 0xff;
}

it('receives a >2^31-byte DATA frame in 64 MiB chunks into a destination, then the next frame', () => {
  const data: FrameHeader = { kind: FrameKind.DATA, dtype: 2, flags: 0, context: 9, tag: 3, seq: 41, length: PAYLOAD_BYTES, aux: 0, aux2: 0 };
  const bye: FrameHeader = { kind: FrameKind.BYE, dtype: 0, flags: 0, context: 0, tag: 0, seq: 0, length: 0, aux: 0, aux2: 0 };
  const streamBytes = HEADER_BYTES + PAYLOAD_BYTES + HEADER_BYTES;

  // One chunk buffer reused for every push, as a socket would; each chunk ends with a stamp
  // (its index, u32 LE) so chunks cannot be confused with one another.
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (let r = 0; r < CHUNK_BYTES; r++) chunk[r] = filler(r);

  const destination = new Uint8Array(PAYLOAD_BYTES);
  const frames: { kind: number; length: number; payload: Uint8Array }[] = [];
  const parser = new FrameParser(
    {
      onHeader: (h) => (h.kind === FrameKind.DATA ? (expect(h.length).toBe(PAYLOAD_BYTES), destination) : undefined),
      onFrame: (h, payload) => frames.push({ kind: h.kind, length: h.length, payload }),
    },
    { maxEagerBytes: 1 << 20, maxMessageBytes: 2 ** 32 },
  );

  const chunkCount = Math.ceil(streamBytes / CHUNK_BYTES);
  for (let k = 0; k < chunkCount; k++) {
    const start = k * CHUNK_BYTES;
    const size = Math.min(CHUNK_BYTES, streamBytes - start);
    if (k === 0) writeHeader(chunk, 0, data);
    if (k === 1) for (let r = 0; r < HEADER_BYTES; r++) chunk[r] = filler(r);
    if (size === CHUNK_BYTES) {
      new DataView(chunk.buffer).setUint32(CHUNK_BYTES - 4, k, true);
    } else {
      writeHeader(chunk, size - HEADER_BYTES, bye);
    }
    parser.push(chunk.subarray(0, size));
    if (k < chunkCount - 1) expect(parser.bytesPending).toBe(start + size);
  }

  expect(frames.map((f) => [f.kind, f.length])).toEqual([[FrameKind.DATA, PAYLOAD_BYTES], [FrameKind.BYE, 0]]);
  expect(frames[0]!.payload).toBe(destination);
  expect(parser.bytesPending).toBe(0);

  /** What the sender put at payload offset q. */
  const expectedAt = (q: number): number => {
    const s = q + HEADER_BYTES;
    const k = Math.floor(s / CHUNK_BYTES);
    const r = s - k * CHUNK_BYTES;
    if (r >= CHUNK_BYTES - 4) return (k >>> ((r - (CHUNK_BYTES - 4)) * 8)) & 0xff;
    return filler(r);
  };
  const probes = [
    0, 1, 2, CHUNK_BYTES - 40, CHUNK_BYTES - 36, CHUNK_BYTES - 33, CHUNK_BYTES - 32, 5 * CHUNK_BYTES + 999,
    2 ** 31 - 37, 2 ** 31 - 36, 2 ** 31 - 33, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 31 + 4096,
    2 ** 31 + CHUNK_BYTES - 36, 2 ** 31 + CHUNK_BYTES - 32,
    PAYLOAD_BYTES - 2, PAYLOAD_BYTES - 1,
  ];
  for (const q of probes) expect([q, destination[q]]).toEqual([q, expectedAt(q)]);
  // Every chunk's stamp landed where it belongs.
  for (let k = 0; k < chunkCount - 1; k++) {
    const q = (k + 1) * CHUNK_BYTES - 4 - HEADER_BYTES;
    expect(new DataView(destination.buffer).getUint32(q, true)).toBe(k);
  }
}, 60_000);
