// Unit tests of runtime/wire: header encoding and validation, the chunk-driven frame parser,
// and the frame writer helper.
import { describe, expect, it } from 'vitest';
import { isTsmpiError } from '../../runtime/errors.js';
import {
  encodeHeader,
  FLAG_SYNC,
  FrameKind,
  HEADER_BYTES,
  readHeader,
  validateHeader,
  writeHeader,
  type FrameHeader,
  type WireLimits,
} from '../../runtime/wire/header.js';
import { FrameParser, type FrameSink } from '../../runtime/wire/parser.js';
import { frameParts } from '../../runtime/wire/writer.js';
import { expectTsmpiError } from '../helpers/errors.js';

const LIMITS: WireLimits = { maxEagerBytes: 64 * 1024, maxMessageBytes: 1 << 30 };

function header(fields: Partial<FrameHeader> & { kind: number }): FrameHeader {
  return { dtype: 0, flags: 0, context: 0, tag: 0, seq: 0, length: 0, aux: 0, aux2: 0, ...fields };
}

function frameBytes(h: FrameHeader, payload?: Uint8Array): Buffer {
  return Buffer.concat(frameParts(h, payload === undefined ? undefined : [payload]));
}

function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return out;
}

type SinkEvent =
  | { event: 'header'; h: FrameHeader }
  | { event: 'frame'; h: FrameHeader; payload: string; intoDestination: boolean };

/** Records every callback with copies, so results can be compared across chunkings. */
function recordingSink(destinationFor: (h: FrameHeader) => Uint8Array | undefined = (h) =>
  h.kind === FrameKind.DATA ? new Uint8Array(h.length) : undefined,
): FrameSink & { events: SinkEvent[] } {
  const events: SinkEvent[] = [];
  const destinations = new Map<FrameHeader, Uint8Array>();
  return {
    events,
    onHeader(h) {
      events.push({ event: 'header', h: { ...h } });
      const destination = destinationFor(h);
      if (destination !== undefined) destinations.set(h, destination);
      return destination;
    },
    onFrame(h, payload) {
      const destination = destinations.get(h);
      destinations.delete(h);
      if (destination !== undefined) expect(payload).toBe(destination);
      expect(payload.length).toBe(h.kind === FrameKind.RTS ? 0 : h.length);
      events.push({
        event: 'frame',
        h: { ...h },
        payload: Buffer.from(payload).toString('hex'),
        intoDestination: destination !== undefined,
      });
    },
  };
}

describe('frame header', () => {
  const samples: FrameHeader[] = [
    header({ kind: FrameKind.EAGER, dtype: 9, flags: FLAG_SYNC, context: 0xffff_fffe, tag: 0x7fff_ffff, seq: 0xffff_ffff, length: 8, aux: 1, aux2: 2 }),
    header({ kind: FrameKind.RTS, dtype: 11, context: 3, tag: 0, seq: 17, length: Number.MAX_SAFE_INTEGER, aux: 0x8000_0000 }),
    header({ kind: FrameKind.CTS, context: 3, tag: -1, seq: 17, aux2: 0xdead_beef }),
    header({ kind: FrameKind.DATA, dtype: 2, context: 3, tag: -2_147_483_648, seq: 17, length: 2 ** 32 + 5 }),
    header({ kind: FrameKind.SYNC_ACK, context: 9, seq: 123_456 }),
    header({ kind: FrameKind.COLL_ERROR, context: 1, tag: 42, length: 100, aux: 7 }),
    header({ kind: FrameKind.CREDIT, aux: 64, aux2: 1 << 20 }),
    header({ kind: FrameKind.BYE }),
  ];

  it('round-trips every kind through writeHeader, encodeHeader and readHeader', () => {
    for (const h of samples) {
      const encoded = encodeHeader(h);
      expect(encoded.length).toBe(HEADER_BYTES);
      expect(readHeader(encoded, 0)).toEqual(h);
      const target = new Uint8Array(HEADER_BYTES + 5);
      writeHeader(target, 5, h);
      expect(Buffer.from(target.subarray(5)).equals(encoded)).toBe(true);
      const reused = header({ kind: 0 });
      expect(readHeader(target, 5, reused)).toBe(reused);
      expect(reused).toEqual(h);
      validateHeader(h, { maxEagerBytes: 100, maxMessageBytes: Number.MAX_SAFE_INTEGER });
    }
  });

  it('lays fields out little-endian at the documented offsets', () => {
    const bytes = encodeHeader(
      header({ kind: 2, dtype: 9, flags: 1, context: 0x0403_0201, tag: -2, seq: 0x0807_0605, length: 0x0001_0000_0000 + 0x0c0b_0a09, aux: 0x100f_0e0d, aux2: 0x1413_1211 }),
    );
    expect(bytes[0]).toBe(2);
    expect(bytes[1]).toBe(9);
    expect(bytes.readUInt16LE(2)).toBe(1);
    expect(bytes.readUInt32LE(4)).toBe(0x0403_0201);
    expect(bytes.readInt32LE(8)).toBe(-2);
    expect(bytes.readUInt32LE(12)).toBe(0x0807_0605);
    expect(bytes.readUInt32LE(16)).toBe(0x0c0b_0a09);
    expect(bytes.readUInt32LE(20)).toBe(1);
    expect(bytes.readUInt32LE(24)).toBe(0x100f_0e0d);
    expect(bytes.readUInt32LE(28)).toBe(0x1413_1211);
  });

  describe('validateHeader rejects with TSMPI_ERR_PROTOCOL', () => {
    const limits: WireLimits = { maxEagerBytes: 1000, maxMessageBytes: 1_000_000 };
    const cases: [string, FrameHeader, RegExp][] = [
      ['kind 0', header({ kind: 0 }), /unknown frame kind 0/],
      ['kind 10', header({ kind: 10 }), /unknown frame kind 10/],
      ['kind 255', header({ kind: 255 }), /unknown frame kind 255/],
      ['dtype 12', header({ kind: FrameKind.EAGER, dtype: 12 }), /element type code 12/],
      ['dtype 255', header({ kind: FrameKind.BYE, dtype: 255 }), /element type code 255/],
      ['reserved flag bit 3', header({ kind: FrameKind.EAGER, flags: 8 }), /reserved flag bits/],
      ['reserved flag bit 15', header({ kind: FrameKind.CTS, flags: 0x8001 }), /reserved flag bits/],
      ['payload on CTS', header({ kind: FrameKind.CTS, length: 1 }), /without payload/],
      ['payload on SYNC_ACK', header({ kind: FrameKind.SYNC_ACK, length: 4 }), /without payload/],
      ['payload on CREDIT', header({ kind: FrameKind.CREDIT, length: 2 ** 40 }), /without payload/],
      ['payload on BYE', header({ kind: FrameKind.BYE, length: 1 }), /without payload/],
      ['negative tag on EAGER', header({ kind: FrameKind.EAGER, tag: -1 }), /negative tag -1/],
      ['negative tag on RTS', header({ kind: FrameKind.RTS, tag: -2_147_483_648 }), /negative tag/],
      ['EAGER above maxEagerBytes', header({ kind: FrameKind.EAGER, length: 1001 }), /above maxEagerBytes/],
      ['COLL_ERROR above maxEagerBytes', header({ kind: FrameKind.COLL_ERROR, length: 1001 }), /above maxEagerBytes/],
      ['RTS above maxMessageBytes', header({ kind: FrameKind.RTS, length: 1_000_001 }), /above maxMessageBytes/],
      ['DATA above maxMessageBytes', header({ kind: FrameKind.DATA, length: 1_000_001 }), /above maxMessageBytes/],
    ];
    for (const [name, h, message] of cases) {
      it(name, () => expectTsmpiError(() => validateHeader(h, limits), 'TSMPI_ERR_PROTOCOL', message));
    }

    it('lengthHi >= 2^21 (length beyond 2^53 - 1), read from raw bytes', () => {
      for (const lengthHi of [2 ** 21, 2 ** 21 + 1, 0xffff_ffff]) {
        for (const lengthLo of [0, 1, 0xffff_ffff]) {
          const bytes = encodeHeader(header({ kind: FrameKind.RTS }));
          bytes.writeUInt32LE(lengthLo, 16);
          bytes.writeUInt32LE(lengthHi, 20);
          const unbounded = { maxEagerBytes: Infinity, maxMessageBytes: Infinity };
          expectTsmpiError(() => validateHeader(readHeader(bytes, 0), unbounded), 'TSMPI_ERR_PROTOCOL', /2\^53/);
        }
      }
    });

    it('but accepts the boundaries', () => {
      validateHeader(header({ kind: FrameKind.EAGER, tag: 2 ** 31 - 1, length: 1000, flags: FLAG_SYNC, dtype: 11 }), limits);
      validateHeader(header({ kind: FrameKind.COLL_ERROR, length: 1000, tag: -1 }), limits);
      validateHeader(header({ kind: FrameKind.RTS, length: 1_000_000 }), limits);
      validateHeader(header({ kind: FrameKind.DATA, length: 1_000_000, tag: -5 }), limits);
      const bytes = encodeHeader(header({ kind: FrameKind.RTS }));
      bytes.writeUInt32LE(0xffff_ffff, 16);
      bytes.writeUInt32LE(2 ** 21 - 1, 20);
      const h = readHeader(bytes, 0);
      expect(h.length).toBe(Number.MAX_SAFE_INTEGER);
      validateHeader(h, { maxEagerBytes: 0, maxMessageBytes: Number.MAX_SAFE_INTEGER });
    });
  });
});

describe('frame writer', () => {
  it('returns the header then the very same payload views', () => {
    const a = new Uint8Array([1, 2, 3]);
    const b = new Float64Array([1.5]);
    const bView = new Uint8Array(b.buffer);
    const h = header({ kind: FrameKind.EAGER, dtype: 9, length: 11, tag: 4 });
    const parts = frameParts(h, [a, bView]);
    expect(parts).toHaveLength(3);
    expect(parts[1]).toBe(a);
    expect(parts[2]).toBe(bView);
    expect(readHeader(parts[0]!, 0)).toEqual(h);
  });

  it('sends no payload for RTS and the other header-only kinds', () => {
    expect(frameParts(header({ kind: FrameKind.RTS, length: 1 << 20 }))).toHaveLength(1);
    expect(frameParts(header({ kind: FrameKind.BYE }), [])).toHaveLength(1);
  });

  it('refuses a payload that disagrees with the header', () => {
    expectTsmpiError(() => frameParts(header({ kind: FrameKind.EAGER, length: 4 }), [new Uint8Array(3)]), 'TSMPI_ERR_INTERN');
    expectTsmpiError(() => frameParts(header({ kind: FrameKind.RTS, length: 4 }), [new Uint8Array(4)]), 'TSMPI_ERR_INTERN');
    expectTsmpiError(() => frameParts(header({ kind: FrameKind.DATA, length: 4 })), 'TSMPI_ERR_INTERN');
  });
});

describe('frame parser', () => {
  /** Several frames of every kind; DATA and the EAGER with tag 7 go into sink destinations. */
  const sequence: [FrameHeader, Uint8Array?][] = [
    [header({ kind: FrameKind.EAGER, dtype: 9, context: 2, tag: 5, seq: 1, length: 16, aux: 2 }), patternBytes(16, 1)],
    [header({ kind: FrameKind.RTS, dtype: 6, flags: FLAG_SYNC, context: 2, tag: 6, seq: 2, length: 40, aux: 10 })],
    [header({ kind: FrameKind.CTS, context: 2, tag: -1, seq: 2, aux: 99 })],
    [header({ kind: FrameKind.DATA, dtype: 6, context: 2, tag: 6, seq: 2, length: 40 }), patternBytes(40, 2)],
    [header({ kind: FrameKind.SYNC_ACK, context: 2, seq: 3 })],
    [header({ kind: FrameKind.EAGER, context: 3, tag: 0, seq: 4 }), new Uint8Array(0)],
    [header({ kind: FrameKind.COLL_ERROR, context: 4, tag: 1, length: 10, aux: 3 }), patternBytes(10, 3)],
    [header({ kind: FrameKind.CREDIT, aux: 5 })],
    [header({ kind: FrameKind.EAGER, dtype: 2, context: 3, tag: 7, seq: 5, length: 33 }), patternBytes(33, 4)],
    [header({ kind: FrameKind.EAGER, context: 3, tag: 8, seq: 6, length: 1 }), patternBytes(1, 5)],
    [header({ kind: FrameKind.BYE })],
  ];
  const stream = Buffer.concat(sequence.map(([h, p]) => frameBytes(h, p)));
  const destinationFor = (h: FrameHeader) =>
    h.kind === FrameKind.DATA || h.tag === 7 ? new Uint8Array(h.length) : undefined;

  function parseInChunks(chunks: Uint8Array[], frameAlign = 1): SinkEvent[] {
    const sink = recordingSink(destinationFor);
    const parser = new FrameParser(sink, LIMITS, frameAlign);
    for (const chunk of chunks) parser.push(chunk);
    expect(parser.bytesPending).toBe(0);
    return sink.events;
  }

  /** Same as parseInChunks, condensed to a string: cheap enough for tens of thousands of runs. */
  function fingerprintInChunks(chunks: Uint8Array[]): string {
    let fingerprint = '';
    const parser = new FrameParser(
      {
        onHeader(h) {
          fingerprint += `H${h.kind},${h.dtype},${h.flags},${h.context},${h.tag},${h.seq},${h.length},${h.aux},${h.aux2};`;
          return destinationFor(h);
        },
        onFrame(h, p) {
          fingerprint += `F${h.kind},${h.seq}:${Buffer.from(p.buffer, p.byteOffset, p.length).toString('hex')};`;
        },
      },
      LIMITS,
    );
    for (const chunk of chunks) parser.push(chunk);
    return fingerprint + parser.bytesPending;
  }

  const whole = parseInChunks([stream]);

  it('delivers every frame of a sequence in one chunk, header before frame', () => {
    const frames = whole.filter((e) => e.event === 'frame');
    expect(frames).toHaveLength(sequence.length);
    expect(whole).toHaveLength(2 * sequence.length);
    sequence.forEach(([h, payload], i) => {
      expect(whole[2 * i]).toEqual({ event: 'header', h });
      const frame = whole[2 * i + 1] as Extract<SinkEvent, { event: 'frame' }>;
      expect(frame.h).toEqual(h);
      expect(frame.payload).toBe(Buffer.from(payload ?? new Uint8Array(0)).toString('hex'));
      expect(frame.intoDestination).toBe(h.kind === FrameKind.DATA || h.tag === 7);
    });
  });

  it('gives identical results for every split into 2 chunks and every split into 3 chunks', () => {
    const n = stream.length;
    for (let i = 0; i <= n; i++) {
      expect(parseInChunks([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
    }
    // ~89 000 parses: compared as a fingerprint string, re-run with the recording sink on a mismatch.
    const expected = fingerprintInChunks([stream]);
    for (let i = 0; i <= n; i++) {
      for (let j = i; j <= n; j++) {
        const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        if (fingerprintInChunks(chunks) !== expected) expect({ i, j, events: parseInChunks(chunks) }).toEqual({ i, j, events: whole });
      }
    }
  });

  it('gives identical results fed one byte at a time', () => {
    const bytes = [...stream].map((b) => new Uint8Array([b]));
    expect(parseInChunks(bytes)).toEqual(whole);
  });

  it('with frameAlign 8, skips the padding after each frame, however the stream is split', () => {
    // As the shared-memory rings write it: each frame padded with junk to a multiple of 8 bytes.
    const padded = Buffer.concat(sequence.flatMap(([h, p]) => {
      const frame = frameBytes(h, p);
      return [frame, Buffer.alloc(-frame.length & 7, 0xee)];
    }));
    expect(padded.length).toBeGreaterThan(stream.length);
    expect(parseInChunks([padded], 8)).toEqual(whole);
    for (let i = 0; i <= padded.length; i++) {
      expect(parseInChunks([padded.subarray(0, i), padded.subarray(i)], 8)).toEqual(whole);
    }
    expect(parseInChunks([...padded].map((b) => new Uint8Array([b])), 8)).toEqual(whole);
    // Read without the alignment, the junk is taken for a header.
    expect(() => parseInChunks([padded])).toThrow();
  });

  it('refuses a frameAlign that is not a power of two', () => {
    for (const bad of [0, 3, 6, 1.5, -8]) {
      expectTsmpiError(() => new FrameParser(recordingSink(), LIMITS, bad), 'TSMPI_ERR_ARG', /power of two/);
    }
  });

  it('delivers a zero-length payload at once, with onHeader first', () => {
    const calls: string[] = [];
    const parser = new FrameParser(
      {
        onHeader: (h) => (calls.push(`header ${h.kind}`), undefined),
        onFrame: (h, payload) => calls.push(`frame ${h.kind} ${payload.length} ${payload instanceof Uint8Array}`),
      },
      LIMITS,
    );
    parser.push(frameBytes(header({ kind: FrameKind.EAGER }), new Uint8Array(0)));
    expect(calls).toEqual(['header 1', 'frame 1 0 true']);
    parser.push(frameBytes(header({ kind: FrameKind.DATA }), new Uint8Array(0)).subarray(0, 31));
    expect(parser.bytesPending).toBe(31);
    expect(() => parser.push(new Uint8Array(1))).toThrow(/no receive waiting/);
  });

  it('copies a payload into the destination across many chunks, tracking bytesPending', () => {
    const length = (1 << 20) + 17;
    const payload = patternBytes(length, 9);
    const h = header({ kind: FrameKind.DATA, dtype: 2, context: 5, seq: 77, length });
    const bytes = frameBytes(h, payload);
    const destination = new Uint8Array(length);
    let delivered: Uint8Array | undefined;
    const parser = new FrameParser(
      {
        onHeader: (got) => (expect(got).toEqual(h), destination),
        onFrame: (_h, p) => (delivered = p),
      },
      LIMITS,
    );
    let offset = 0;
    let step = 1;
    while (offset < bytes.length) {
      const next = Math.min(bytes.length, offset + step);
      parser.push(bytes.subarray(offset, next));
      offset = next;
      if (offset < bytes.length) {
        expect(delivered).toBeUndefined();
        expect(parser.bytesPending).toBe(offset);
      }
      step = (step * 7 + 3) % 9001;
    }
    expect(delivered).toBe(destination);
    expect(Buffer.from(destination).equals(Buffer.from(payload))).toBe(true);
    expect(parser.bytesPending).toBe(0);
  });

  it('delivers a payload whole inside one chunk as a view of that chunk', () => {
    const bytes = frameBytes(header({ kind: FrameKind.EAGER, length: 4 }), patternBytes(4, 1));
    let delivered: Uint8Array | undefined;
    new FrameParser({ onHeader: () => undefined, onFrame: (_h, p) => (delivered = p) }, LIMITS).push(bytes);
    expect(delivered!.buffer).toBe(bytes.buffer);
    expect(delivered!.byteOffset).toBe(bytes.byteOffset + HEADER_BYTES);
  });

  it('gives a parser-owned payload that spans chunks its own memory, unharmed when the socket reuses its buffer', () => {
    const payloads = [patternBytes(100, 1), patternBytes(3000, 2), patternBytes(17, 3)];
    const bytes = Buffer.concat(payloads.map((p, i) => frameBytes(header({ kind: FrameKind.EAGER, seq: i, length: p.length }), p)));
    const socketBuffer = new Uint8Array(64); // like a socket that reads into one buffer
    const kept: Uint8Array[] = [];
    const parser = new FrameParser({ onHeader: () => undefined, onFrame: (_h, p) => kept.push(p) }, LIMITS);
    for (let offset = 0; offset < bytes.length; offset += socketBuffer.length) {
      const chunk = bytes.subarray(offset, offset + socketBuffer.length);
      socketBuffer.set(chunk);
      parser.push(socketBuffer.subarray(0, chunk.length));
      socketBuffer.fill(0xee);
    }
    expect(kept).toHaveLength(3);
    kept.forEach((p, i) => {
      expect(p.buffer).not.toBe(socketBuffer.buffer);
      expect(Buffer.from(p).equals(Buffer.from(payloads[i]!))).toBe(true);
    });
  });

  it('gives each frame its own header object, so a sink may keep it', () => {
    const kept: FrameHeader[] = [];
    const parser = new FrameParser({ onHeader: () => undefined, onFrame: (h) => kept.push(h) }, LIMITS);
    parser.push(Buffer.concat([frameBytes(header({ kind: FrameKind.CREDIT, aux: 1 })), frameBytes(header({ kind: FrameKind.CREDIT, aux: 2 }))]));
    expect(kept.map((h) => h.aux)).toEqual([1, 2]);
  });

  it('stays dead after a protocol error, throwing the same error', () => {
    const sink = recordingSink();
    const parser = new FrameParser(sink, LIMITS);
    const good = frameBytes(header({ kind: FrameKind.EAGER, length: 2 }), new Uint8Array(2));
    const bad = encodeHeader(header({ kind: FrameKind.BYE }));
    bad[0] = 42;
    const first = expectTsmpiError(() => parser.push(Buffer.concat([good, bad, good])), 'TSMPI_ERR_PROTOCOL', /unknown frame kind 42/);
    expect(sink.events.filter((e) => e.event === 'frame')).toHaveLength(1);
    expect(parser.failed).toBe(true);
    let again: unknown;
    try {
      parser.push(good);
    } catch (e) {
      again = e;
    }
    expect(again).toBe(first);
    expect(sink.events.filter((e) => e.event === 'frame')).toHaveLength(1);
  });

  it('rejects an oversized eager length before allocating, even with only the header received', () => {
    const parser = new FrameParser(recordingSink(), { maxEagerBytes: 1024, maxMessageBytes: 1 << 20 });
    const h = encodeHeader(header({ kind: FrameKind.EAGER, length: 1025 }));
    parser.push(h.subarray(0, 20));
    expectTsmpiError(() => parser.push(h.subarray(20)), 'TSMPI_ERR_PROTOCOL', /above maxEagerBytes/);
  });

  it('rejects DATA that no receive is waiting for', () => {
    const parser = new FrameParser(recordingSink(() => undefined), LIMITS);
    expectTsmpiError(
      () => parser.push(frameBytes(header({ kind: FrameKind.DATA, length: 3 }), new Uint8Array(3))),
      'TSMPI_ERR_PROTOCOL',
      /DATA frame/,
    );
  });

  it('treats a destination of the wrong size as a bug on this side', () => {
    const parser = new FrameParser({ onHeader: () => new Uint8Array(2), onFrame: () => {} }, LIMITS);
    expectTsmpiError(() => parser.push(frameBytes(header({ kind: FrameKind.DATA, length: 3 }), new Uint8Array(3))), 'TSMPI_ERR_INTERN');
  });

  it('rethrows an exception from the sink and stays dead', () => {
    const boom = new Error('sink failed');
    const parser = new FrameParser({ onHeader: () => undefined, onFrame: () => { throw boom; } }, LIMITS);
    const bye = frameBytes(header({ kind: FrameKind.BYE }));
    expect(() => parser.push(bye)).toThrow(boom);
    expect(() => parser.push(bye)).toThrow(boom);
  });

  it('refuses a reentrant push from the sink', () => {
    const bye = frameBytes(header({ kind: FrameKind.BYE }));
    let inner: unknown;
    const parser: FrameParser = new FrameParser(
      {
        onHeader: () => undefined,
        onFrame: () => {
          try {
            parser.push(bye);
          } catch (e) {
            inner = e;
          }
        },
      },
      LIMITS,
    );
    parser.push(bye);
    expect(isTsmpiError(inner, 'TSMPI_ERR_INTERN')).toBe(true);
  });
});
