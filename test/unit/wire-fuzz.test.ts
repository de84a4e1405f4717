// Seeded fuzzing of the frame parser: random bytes, valid frame sequences, and valid sequences
// with mutations (bit flips, truncation, absurd lengths, unknown kinds), each fed in random chunks.
// The parser must either deliver frames or throw TSMPI_ERR_PROTOCOL, never allocate for a length
// it has not checked, and behave the same however the input is chunked.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { isTsmpiError } from '../../runtime/errors.js';
import { FrameKind, HEADER_BYTES, writeHeader, type FrameHeader, type WireLimits } from '../../runtime/wire/header.js';
import { FrameParser } from '../../runtime/wire/parser.js';
import { mulberry32 } from '../helpers/random.js';

const SEED = 0x7a5e_11ed;
const INPUTS = 100_000;
const LIMITS: WireLimits = { maxEagerBytes: 1 << 20, maxMessageBytes: 4 << 20 };

const random = mulberry32(SEED);
const below = (n: number): number => Math.floor(random() * n);
const chance = (p: number): boolean => random() < p;
const u32 = (): number => below(2 ** 32);

const ALL_KINDS = Object.values(FrameKind);
const PAYLOAD_KINDS: readonly number[] = [FrameKind.EAGER, FrameKind.DATA, FrameKind.COLL_ERROR];

function randomValidFrame(): { header: FrameHeader; payload: Uint8Array } {
  const kind = ALL_KINDS[below(ALL_KINDS.length)]!;
  const carriesPayload = PAYLOAD_KINDS.includes(kind);
  const length = carriesPayload ? (chance(0.05) ? below(5000) : below(48)) : kind === FrameKind.RTS ? below(LIMITS.maxMessageBytes) : 0;
  const header: FrameHeader = {
    kind,
    dtype: below(12),
    flags: chance(0.3) ? 1 : 0,
    context: u32(),
    tag: kind === FrameKind.EAGER || kind === FrameKind.RTS ? below(2 ** 31) : u32() | 0,
    seq: u32(),
    length,
    aux: u32(),
    aux2: u32(),
  };
  const payload = new Uint8Array(carriesPayload ? length : 0);
  for (let i = 0; i < payload.length; i++) payload[i] = below(256);
  return { header, payload };
}

function encodeFrames(frames: { header: FrameHeader; payload: Uint8Array }[]): Uint8Array {
  const total = frames.reduce((sum, f) => sum + HEADER_BYTES + f.payload.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const { header, payload } of frames) {
    writeHeader(out, offset, header);
    out.set(payload, offset + HEADER_BYTES);
    offset += HEADER_BYTES + payload.length;
  }
  return out;
}

function mutate(input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const mutations = 1 + below(3);
  for (let m = 0; m < mutations && bytes.length > 0; m++) {
    // Half the time aim at the first frame's header: the bytes whose mutation changes control flow.
    const at = chance(0.5) ? below(Math.min(bytes.length, HEADER_BYTES)) : below(bytes.length);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    switch (below(7)) {
      case 0: // bit flip
        bytes[at] = bytes[at]! ^ (1 << below(8));
        break;
      case 1: // random byte
        bytes[at] = below(256);
        break;
      case 2: // truncation
        bytes = bytes.subarray(0, below(bytes.length + 1));
        break;
      case 3: // absurd length: lengthLo / lengthHi of the first frame
        if (bytes.length >= 24) {
          view.setUint32(16, chance(0.5) ? u32() : [0xffff_ffff, LIMITS.maxEagerBytes + 1, LIMITS.maxMessageBytes + 1, 2 ** 31][below(4)]!, true);
          if (chance(0.5)) view.setUint32(20, chance(0.5) ? u32() : 2 ** 21 + below(3) - 1, true);
        }
        break;
      case 4: // unknown kind
        bytes[0] = chance(0.5) ? 0 : 9 + below(247);
        break;
      case 5: // garbage appended
        bytes = concat(bytes, randomBytes(below(64)));
        break;
      case 6: // a duplicated slice, shifting everything after it
        bytes = concat(bytes.subarray(0, at), bytes.subarray(below(bytes.length)));
        break;
    }
  }
  return bytes;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = below(256);
  return out;
}

function randomChunks(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const maxChunk = chance(0.3) ? 4 : 1 + below(bytes.length + 1);
  for (let offset = 0; offset < bytes.length; ) {
    const size = 1 + below(maxChunk);
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

interface Outcome {
  trace: string;
  error: unknown;
  largestParserPayload: number;
}

/** Parses `chunks`, checking every callback; the sink posts destinations by a rule on the header
 *  alone, so the outcome must not depend on the chunking. */
function parse(chunks: readonly Uint8Array[]): Outcome {
  let trace = '';
  let largestParserPayload = 0;
  const destinations = new Map<FrameHeader, Uint8Array>();
  const parser = new FrameParser(
    {
      onHeader(h) {
        // Validated, so these must hold whatever the input was.
        if (!(h.kind >= 1 && h.kind <= 9 && h.dtype <= 11 && (h.flags & ~7) === 0)) throw new Error(`unvalidated header ${JSON.stringify(h)}`);
        trace += `H${h.kind}/${h.length}/${h.seq};`;
        if (h.kind === FrameKind.DATA || (h.kind === FrameKind.EAGER && (h.seq & 1) === 1)) {
          const destination = new Uint8Array(h.length);
          destinations.set(h, destination);
          return destination;
        }
        return undefined;
      },
      onFrame(h, payload) {
        const destination = destinations.get(h);
        if (destination !== undefined) {
          if (payload !== destination) throw new Error('destination not delivered');
        } else {
          largestParserPayload = Math.max(largestParserPayload, payload.length);
        }
        const expectedLength = PAYLOAD_KINDS.includes(h.kind) ? h.length : 0;
        if (payload.length !== expectedLength) throw new Error(`payload of ${payload.length} bytes for ${JSON.stringify(h)}`);
        let checksum = 0;
        for (let i = 0; i < payload.length; i++) checksum = (checksum * 31 + payload[i]!) | 0;
        trace += `F${h.kind}/${checksum};`;
      },
    },
    LIMITS,
  );
  let error: unknown;
  try {
    for (const chunk of chunks) parser.push(chunk);
    trace += `pending ${parser.bytesPending}`;
  } catch (e) {
    error = e;
    let again: unknown;
    try {
      parser.push(new Uint8Array(HEADER_BYTES));
    } catch (e2) {
      again = e2;
    }
    if (again !== e) throw new Error('parser not dead after an error');
  }
  return { trace, error, largestParserPayload };
}

// Every allocation the parser makes for a payload goes through Buffer.allocUnsafe: record the largest.
const realAllocUnsafe = Buffer.allocUnsafe;
let largestAllocation = 0;
beforeEach(() => {
  largestAllocation = 0;
  Buffer.allocUnsafe = ((size: number) => {
    largestAllocation = Math.max(largestAllocation, size);
    return realAllocUnsafe(size);
  }) as typeof Buffer.allocUnsafe;
});
afterEach(() => {
  Buffer.allocUnsafe = realAllocUnsafe;
});

it(`survives ${INPUTS} seeded fuzz inputs with only TSMPI_ERR_PROTOCOL, chunking-independent`, () => {
  const tally = { random: 0, valid: 0, mutated: 0, frames: 0, protocolErrors: 0 };
  for (let n = 0; n < INPUTS; n++) {
    let input: Uint8Array;
    let expectedFrames = -1;
    const shape = below(10);
    if (shape < 2) {
      input = randomBytes(below(256));
      tally.random++;
    } else {
      const frames = Array.from({ length: 1 + below(6) }, randomValidFrame);
      input = encodeFrames(frames);
      if (shape < 4) {
        expectedFrames = frames.length;
        tally.valid++;
      } else {
        input = mutate(input);
        tally.mutated++;
      }
    }

    const whole = parse([input]);
    const chunked = parse(randomChunks(input));
    // Plain checks in the loop (expect() per input would dominate the run time); expect() only
    // to report a failure with its input.
    const report = () => ({ n, input: Buffer.from(input).toString('hex') });
    if (whole.error !== undefined && !isTsmpiError(whole.error, 'TSMPI_ERR_PROTOCOL')) {
      expect({ ...report(), error: String(whole.error) }).toBeUndefined();
    }
    const sameError =
      whole.error === undefined
        ? chunked.error === undefined
        : chunked.error !== undefined && (chunked.error as Error).message === (whole.error as Error).message;
    if (chunked.trace !== whole.trace || !sameError) {
      expect({ ...report(), ...chunked, error: String(chunked.error) }).toEqual({ ...report(), ...whole, error: String(whole.error) });
    }
    const frameCount = whole.trace.split('F').length - 1;
    if (expectedFrames >= 0 && (whole.error !== undefined || frameCount !== expectedFrames || !whole.trace.endsWith('pending 0'))) {
      expect({ ...report(), trace: whole.trace, error: String(whole.error) }).toEqual({ ...report(), expectedFrames });
    }
    if (Math.max(whole.largestParserPayload, chunked.largestParserPayload) > LIMITS.maxEagerBytes) {
      expect({ ...report(), largest: Math.max(whole.largestParserPayload, chunked.largestParserPayload) }).toBeUndefined();
    }
    if (whole.error !== undefined) tally.protocolErrors++;
    tally.frames += frameCount;
  }
  expect(largestAllocation).toBeLessThanOrEqual(LIMITS.maxEagerBytes);
  // Mutated lengths made the parser allocate for payloads spanning chunks, within the limit.
  expect(largestAllocation).toBeGreaterThan(0);
  // The generator must actually reach both outcomes in quantity, or the test proves little.
  expect(tally.frames).toBeGreaterThan(100_000);
  expect(tally.protocolErrors).toBeGreaterThan(20_000);
}, 30_000);
