// The object codec behind the lowercase methods (`send`, `recv`, `bcast`, …): turns any serializable
// value into one self-contained message and back. msgpackr does the msgpack work; typed arrays above
// OOB_THRESHOLD_BYTES travel out of band (as mpi4py's pickle protocol 5 does): their bytes are never
// copied into the msgpack, the encoder hands them out as views of the caller's arrays and the decoder
// returns views of the received payload. An ArrayBuffer or view sent as the whole value, the commonest
// object message, skips msgpackr: encodeInBandBinary / encodeOutOfBandBinary write the very bytes
// msgpackr would, and decodeObject recognises and checks them as the validation walk would.
//
// Message layout (all integers little-endian):
//
//   offset 0   u32  msgpack byte length L
//   offset 4   u8   codec version (1)
//   offset 5   u8×3 reserved, zero
//   offset 8   L bytes of msgpack: exactly one value
//   then       zero padding up to the next multiple of 8: the start of the out-of-band region
//   then       out-of-band buffers, each starting at a multiple of 8 (zero padding between them);
//              the message ends where the last one ends
//
// An out-of-band typed array is an ext record inside the msgpack, ext type EXT_OUT_OF_BAND, 17 data
// bytes: u8 kind, u64 offset (relative to the out-of-band region, multiple of 8), u64 byte length. As
// offsets are 8-aligned within the message, a payload whose byteOffset is 8-aligned decodes to views
// for every kind; any other payload still decodes, copying the arrays whose element size needs it.
//
// Ext types in the msgpack. msgpackr's own: 0x00 undefined, 0x42 bigint beyond 64 bits, 0x73 Set and
// 0x78 RegExp (tags: fixext1 followed by an array), 0xff Date (timestamp). Ours (registered below):
//   0x4d 'M' Map tag, then [k0, v0, k1, v1, …]     (a plain msgpack map decodes as a plain object)
//   0x50 'P' plain-object tag, then [k0, v0, …]    (only for objects msgpackr would get wrong: an own
//                                                   "__proto__" key, or an own `constructor` that is
//                                                   Array or Map)
//   0x45 'E' Error tag, then [name, message, stack] or [name, message, stack, cause]
//   0x5a 'Z' negative zero                          (msgpackr writes -0 as the integer 0)
//   0x57 'W' string that is not well-formed UTF-16 (lone surrogates), as raw UTF-16LE code units
//   0x54 'T' in-band binary: u8 kind, then the bytes
//   0x4f 'O' out-of-band binary record (above)
// Binary kinds: 1..11 the typed array codes of wire/dtype.ts, 12 Node Buffer, 13 ArrayBuffer, 14 DataView.
//
// Decoding trusts nothing: before msgpackr sees a byte, validateMessage walks the msgpack iteratively
// and checks every declared length against the bytes that remain (so no allocation is ever sized by an
// unchecked length), the nesting depth, each ext type and its form, and each out-of-band record
// against the payload. Whatever still fails inside msgpackr becomes TSMPI_ERR_PROTOCOL too.

import { Packr, Unpackr, addExtension, RESERVE_START_SPACE } from 'msgpackr';
import { tsmpiError, TsmpiError } from '../errors.js';
import { DTYPE_CONSTRUCTORS, dtypeOf, type TypedArray } from '../wire/dtype.js';

/** Bytes before the msgpack: u32 msgpack length, u8 version, 3 reserved bytes. */
export const CODEC_HEADER_BYTES = 8;
export const CODEC_VERSION = 1;

/**
 * Typed arrays of at least this many bytes travel out of band. Measured with bench/codec.ts
 * ({x: Float64Array}, encode + gathering the parts into one buffer + decode, Node 20): out of band is
 * cheaper at every size from 64 B (1.2 µs flat vs 1.5 µs at 64 B, 2.5 µs at 512 B, 3.4 µs at 1 KiB in
 * band), because an in-band array needs its own ArrayBuffer at decode (~0.5 µs in Node once over
 * 64 B) while an out-of-band one is a view. Out of band costs up to two more parts to write (padding
 * and the bytes; ~0.1-0.15 µs each under cork on a Unix socket) and 20-27 bytes of record and padding,
 * which only outweighs the saving below ~256 B. 512 B is the low end of the range the design allowed:
 * tiny arrays stay in band, own their memory and keep a message one part.
 */
export const OOB_THRESHOLD_BYTES = 512;
let outOfBandThresholdBytes = OOB_THRESHOLD_BYTES;

/**
 * Containers (arrays, objects, Maps, Sets, Errors, RegExps) may nest this deep; deeper values are
 * rejected at encode (TSMPI_ERR_SERIALIZE) and at decode (TSMPI_ERR_PROTOCOL). msgpackr encodes
 * recursively, with large frames: on Node 20's default stack it fails near 700 nested Sets and 1400
 * nested arrays, so the limit leaves room for the caller's own stack.
 */
export const MAX_NESTING_DEPTH = 512;

// ---------------------------------------------------------------------------------------------------
// Ext types and binary kinds

const EXT_UNDEFINED = 0x00;
const EXT_BIGINT = 0x42;
const EXT_SET = 0x73;
const EXT_REGEXP = 0x78;
const EXT_TIMESTAMP = 0xff;
const EXT_MAP = 0x4d;
const EXT_PLAIN_OBJECT = 0x50;
const EXT_ERROR = 0x45;
const EXT_NEGATIVE_ZERO = 0x5a;
const EXT_UTF16 = 0x57;
const EXT_IN_BAND = 0x54;
const EXT_OUT_OF_BAND = 0x4f;
/** No tag is waiting for its array (ext types are bytes, so this is never one). */
const NO_TAG = -1;

const KIND_BUFFER = 12;
const KIND_ARRAY_BUFFER = 13;
const KIND_DATA_VIEW = 14;
/** Element size per binary kind; 0 marks an invalid kind. */
const KIND_ELEMENT_BYTES: readonly number[] = [0, 1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 1, 1, 1];

const OUT_OF_BAND_RECORD_DATA_BYTES = 17;
const OUT_OF_BAND_RECORD_BYTES = 3 + OUT_OF_BAND_RECORD_DATA_BYTES; // 0xc7, length, type, data
/** Where the out-of-band region starts when one out-of-band record is the whole msgpack. */
const OUT_OF_BAND_ALONE_START = align8(CODEC_HEADER_BYTES + OUT_OF_BAND_RECORD_BYTES);

// ---------------------------------------------------------------------------------------------------
// msgpackr instances

/**
 * - useRecords: false — records define structures in encoder state that a decoder in another process
 *   would not have; every message must decode on its own.
 * - moreTypes: true — Set, RegExp and bigints beyond 64 bits as ext types (without it a Set is an array).
 * - structuredClone: false — no reference tracking (a Map per pack); cycles are rejected instead, and
 *   the decoder refuses msgpackr's reference exts.
 * - mapsAsObjects: true — msgpack maps are plain objects; Maps carry their own tag (EXT_MAP).
 * - int64AsType: 'bigint' — msgpackr writes every bigint in int64 range as int64 and numbers never as
 *   int64 (above 32 bits they are float64), so decoding int64 as bigint keeps 5n → 5n and 5 → 5.
 * - largeBigIntToFloat / largeBigIntToString: off (default) — bigger bigints use ext 0x42, exactly.
 * - variableMapSize: true — objects with over 65535 keys work, keys come from Object.keys (own
 *   enumerable, as in the validation walk) and small maps get a one-byte header.
 * - useToJSON: false — class instances are sent as their own enumerable properties, the same walk
 *   validated; a toJSON would bypass that validation.
 * - writeFunction: throws — msgpackr would otherwise write a function as undefined. The walk rejects
 *   functions first; this only guards against getters that return something else the second time.
 */
const MSGPACKR_OPTIONS = {
  useRecords: false,
  moreTypes: true,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  largeBigIntToFloat: false,
  largeBigIntToString: false,
  variableMapSize: true,
  useToJSON: false,
  encodeUndefinedAsNil: false,
  writeFunction: rejectFunction,
} as const;

function rejectFunction(): never {
  throw new Unserializable('a function');
}

const packr = new Packr(MSGPACKR_OPTIONS);
const unpackr = new Unpackr(MSGPACKR_OPTIONS);
/** Reused unpack ranges (msgpackr reads them once, at the start of unpack). */
const unpackRange = { start: CODEC_HEADER_BYTES, end: 0 };
const scratchRange = { start: 0, end: 0 };

/**
 * Small msgpack sections are decoded from a copy in this buffer: msgpackr caches a DataView on the
 * buffer it reads (`source.dataView`), and making one for every received payload costs more than
 * copying a few hundred bytes. Safe because no decoded value references the bytes it was read from:
 * the validator rejects msgpack bin (the one thing msgpackr returns as a view), our ext handlers copy,
 * and out-of-band arrays view the payload, not this buffer.
 */
const SCRATCH_DECODE_LIMIT = 1024;
const decodeScratch = Buffer.allocUnsafeSlow(SCRATCH_DECODE_LIMIT);

// ---------------------------------------------------------------------------------------------------
// Per-call state. msgpackr's extension hooks are global and synchronous, so the out-of-band list of
// the pack in progress lives here. encodeObject saves and restores it around every call (a getter
// inside the value may itself send), and clears it in `finally`, so a throw mid-encode leaves nothing
// behind for the next call.

class EncodeState {
  /** Out-of-band buffers, in the order their records were written. */
  readonly outOfBand: Uint8Array[] = [];
  /** Bytes the out-of-band region holds so far, padding included (always a multiple of 8). */
  outOfBandBytes = 0;
}

const sharedEncodeState = new EncodeState();
let encoding: EncodeState | null = null;

let decodingPayload: Uint8Array | null = null;
let decodingOutOfBandStart = 0;

// ---------------------------------------------------------------------------------------------------
// Markers the validation walk puts in place of values msgpackr cannot write exactly. They are private
// classes, so only this module's values ever match their extensions.

class MapEntries {
  constructor(readonly flat: unknown[]) {}
}
class PlainObjectEntries {
  constructor(readonly flat: unknown[]) {}
}
class ErrorFields {
  constructor(readonly fields: unknown[]) {}
}
class IllFormedString {
  constructor(readonly value: string) {}
}
class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero();

/**
 * Matches every ArrayBuffer view and ArrayBuffer, but only while encodeObject runs: msgpackr finds
 * extensions with `instanceof`, and this keeps other Packr instances in the process on msgpackr's own
 * typed-array encoding.
 */
class BinaryWhileEncoding {
  static [Symbol.hasInstance](value: unknown): boolean {
    return encoding !== null && (ArrayBuffer.isView(value) || value instanceof ArrayBuffer);
  }
}

/** What msgpackr passes an extension's pack: reserve `size` bytes at the write position. */
type AllocateForWrite = (size: number) => { target: Buffer; targetView: DataView; position: number };
type PackNested = (value: unknown) => void;

/** Our extensions in msgpackr's shape (its typings omit pack's allocateForWrite and pack arguments). */
interface CodecExtension {
  type: number;
  Class?: unknown;
  pack?(value: never, allocateForWrite: AllocateForWrite, pack: PackNested): void;
  unpack?(data: Uint8Array): unknown;
  read?(value: unknown): unknown;
}

function register(extension: CodecExtension): void {
  addExtension(extension as unknown as Parameters<typeof addExtension>[0]);
}

/** Writes a one-byte tag (fixext1) whose value is the next msgpack item. */
function writeTag(allocateForWrite: AllocateForWrite, type: number): void {
  const { target, position } = allocateForWrite(3);
  target[position] = 0xd4;
  target[position + 1] = type;
  target[position + 2] = 0;
}

/** Writes an ext header for `dataLength` bytes of data (ext 8/16/32) and returns where the data goes. */
function writeExtHeader(allocateForWrite: AllocateForWrite, type: number, dataLength: number) {
  const slot = allocateForWrite(extHeaderBytes(dataLength) + dataLength);
  const position = writeExtHeaderAt(slot.target, slot.position, type, dataLength);
  return { target: slot.target, position };
}

/** Bytes of the ext 8/16/32 header (token, length, type) for `dataLength` data bytes. */
function extHeaderBytes(dataLength: number): number {
  return dataLength < 0x100 ? 3 : dataLength < 0x10000 ? 4 : 6;
}

/** Writes an ext 8/16/32 header at `p`; returns where the data goes. */
function writeExtHeaderAt(target: Uint8Array, p: number, type: number, dataLength: number): number {
  const headerBytes = extHeaderBytes(dataLength);
  target[p++] = headerBytes === 3 ? 0xc7 : headerBytes === 4 ? 0xc8 : 0xc9;
  for (let shift = (headerBytes - 3) * 8; shift >= 0; shift -= 8) target[p++] = (dataLength >>> shift) & 0xff;
  target[p++] = type;
  return p;
}

register({
  type: EXT_MAP,
  Class: MapEntries,
  pack(entries: MapEntries, allocateForWrite, pack) {
    writeTag(allocateForWrite, EXT_MAP);
    pack(entries.flat);
  },
  read(flat) {
    const list = flat as unknown[];
    const map = new Map<unknown, unknown>();
    for (let i = 0; i < list.length; i += 2) map.set(list[i], list[i + 1]);
    return map;
  },
});

register({
  type: EXT_PLAIN_OBJECT,
  Class: PlainObjectEntries,
  pack(entries: PlainObjectEntries, allocateForWrite, pack) {
    writeTag(allocateForWrite, EXT_PLAIN_OBJECT);
    pack(entries.flat);
  },
  read(flat) {
    const list = flat as unknown[];
    const object: Record<string, unknown> = {};
    for (let i = 0; i < list.length; i += 2) {
      const key = list[i];
      if (typeof key !== 'string') throw new Error('plain-object key is not a string');
      // defineProperty: an own "__proto__" key must stay a property, not replace the prototype.
      Object.defineProperty(object, key, { value: list[i + 1], writable: true, enumerable: true, configurable: true });
    }
    return object;
  },
});

const ERROR_CONSTRUCTORS: Readonly<Record<string, ErrorConstructor>> = Object.assign(Object.create(null), {
  Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
});

register({
  type: EXT_ERROR,
  Class: ErrorFields,
  pack(error: ErrorFields, allocateForWrite, pack) {
    writeTag(allocateForWrite, EXT_ERROR);
    pack(error.fields);
  },
  read(value) {
    const fields = value as unknown[];
    const [name, message, stack] = fields;
    if (typeof name !== 'string' || typeof message !== 'string' || typeof stack !== 'string') {
      throw new Error('Error fields are not strings');
    }
    const options = fields.length === 4 ? { cause: fields[3] } : undefined;
    const ErrorClass = ERROR_CONSTRUCTORS[name] ?? Error;
    const error = new ErrorClass(message, options);
    if (error.name !== name) error.name = name;
    error.stack = stack;
    return error;
  },
});

register({
  type: EXT_NEGATIVE_ZERO,
  Class: NegativeZero,
  pack(_: NegativeZero, allocateForWrite) {
    writeTag(allocateForWrite, EXT_NEGATIVE_ZERO);
  },
  unpack: () => -0,
});

register({
  type: EXT_UTF16,
  Class: IllFormedString,
  pack(string: IllFormedString, allocateForWrite) {
    const byteLength = string.value.length * 2;
    const { target, position } = writeExtHeader(allocateForWrite, EXT_UTF16, byteLength);
    // UTF-16LE keeps lone surrogates, which UTF-8 (msgpack str) would turn into U+FFFD.
    target.write(string.value, position, byteLength, 'utf16le');
  },
  unpack(data) {
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf16le');
  },
});

/** The binary kind of an ArrayBuffer or view (see the header); -1 for a view kind newer than this codec. */
function binaryKind(value: ArrayBufferView | ArrayBuffer): number {
  if (value instanceof ArrayBuffer) return KIND_ARRAY_BUFFER;
  if (value instanceof DataView) return KIND_DATA_VIEW;
  if (Buffer.isBuffer(value)) return KIND_BUFFER;
  return dtypeOf(value as TypedArray);
}

/** The bytes of an ArrayBuffer or view, as a Uint8Array over the same memory. */
function binaryBytes(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * The value of an in-band binary record whose data (u8 kind, then the bytes) is data[start, end): a
 * copy, so that a small array owns its memory instead of pinning the whole received buffer.
 */
function inBandBinary(data: Uint8Array, start: number, end: number): unknown {
  const kind = data[start]!;
  const byteLength = end - start - 1;
  const Constructor = DTYPE_CONSTRUCTORS[kind];
  const absolute = data.byteOffset + start + 1;
  if (Constructor !== undefined && absolute % Constructor.BYTES_PER_ELEMENT === 0) {
    // slice() of a view: a copy of up to 64 bytes stays in V8's heap, where copying the bytes and
    // then asking for the copy's `.buffer` costs a malloc and a memset per message.
    return new Constructor(data.buffer as ArrayBuffer, absolute, byteLength / Constructor.BYTES_PER_ELEMENT).slice();
  }
  // Copied bytewise, which also aligns it for every element size.
  const bytes = copyBytes(data, start + 1, end);
  return binaryFromBytes(kind, bytes.buffer, 0, byteLength);
}

register({
  type: EXT_IN_BAND,
  Class: BinaryWhileEncoding,
  pack(value: ArrayBufferView | ArrayBuffer, allocateForWrite) {
    const kind = binaryKind(value);
    if (kind < 0) throw new Unserializable(`a ${value.constructor.name}`);
    const bytes = binaryBytes(value);
    const byteLength = bytes.byteLength;
    if (byteLength < outOfBandThresholdBytes) {
      const { target, position } = writeExtHeader(allocateForWrite, EXT_IN_BAND, 1 + byteLength);
      target[position] = kind;
      target.set(bytes, position + 1);
      return;
    }
    const state = encoding!; // set: BinaryWhileEncoding only matches during encodeObject
    const { target, position } = allocateForWrite(OUT_OF_BAND_RECORD_BYTES);
    writeOutOfBandRecordAt(target, position, kind, state.outOfBandBytes, byteLength);
    state.outOfBand.push(bytes);
    state.outOfBandBytes = align8(state.outOfBandBytes + byteLength);
  },
  unpack(data) {
    return inBandBinary(data, 0, data.length);
  },
});

register({
  type: EXT_OUT_OF_BAND,
  unpack(data) {
    const payload = decodingPayload;
    if (payload === null) throw new Error('out-of-band record outside decodeObject');
    return outOfBandBinary(data, 0, payload, decodingOutOfBandStart);
  },
});

/** Writes an out-of-band record (OUT_OF_BAND_RECORD_BYTES, ext header included) at `at`. */
function writeOutOfBandRecordAt(target: Uint8Array, at: number, kind: number, offset: number, byteLength: number): void {
  target[at] = 0xc7;
  target[at + 1] = OUT_OF_BAND_RECORD_DATA_BYTES;
  target[at + 2] = EXT_OUT_OF_BAND;
  target[at + 3] = kind;
  writeU64LE(target, at + 4, offset);
  writeU64LE(target, at + 12, byteLength);
}

/**
 * The value of the out-of-band record whose data (u8 kind, u64 offset, u64 byte length; validated by
 * checkExt) starts at record[at]: a view of `payload`, or a copy where the element type cannot view it.
 */
function outOfBandBinary(record: Uint8Array, at: number, payload: Uint8Array, outOfBandStart: number): unknown {
  const kind = record[at]!;
  const start = outOfBandStart + readU64LE(record, at + 1);
  const byteLength = readU64LE(record, at + 9);
  const absolute = payload.byteOffset + start;
  const elementBytes = KIND_ELEMENT_BYTES[kind]!;
  if (kind === KIND_ARRAY_BUFFER || absolute % elementBytes !== 0) {
    // An ArrayBuffer cannot be a view; a misaligned element type cannot view the payload.
    return binaryFromBytes(kind, copyBytes(payload, start, start + byteLength).buffer, 0, byteLength);
  }
  return binaryFromBytes(kind, payload.buffer as ArrayBuffer, absolute, byteLength);
}

/** bytes[start, end) in a fresh, exactly sized ArrayBuffer. (Not `slice`: on a Buffer that goes
 *  through Buffer's species constructor.) */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(end - start);
  copy.set(bytes.subarray(start, end));
  return copy;
}

/** The value of binary `kind` over `byteLength` bytes of `buffer` at `byteOffset` (a view, no copy). */
function binaryFromBytes(kind: number, buffer: ArrayBuffer, byteOffset: number, byteLength: number): unknown {
  switch (kind) {
    case KIND_BUFFER: return Buffer.from(buffer, byteOffset, byteLength);
    case KIND_ARRAY_BUFFER: return byteOffset === 0 && byteLength === buffer.byteLength ? buffer : buffer.slice(byteOffset, byteOffset + byteLength);
    case KIND_DATA_VIEW: return new DataView(buffer, byteOffset, byteLength);
    default: {
      const Constructor = DTYPE_CONSTRUCTORS[kind];
      if (Constructor === undefined) throw new Error(`unknown binary kind ${kind}`);
      return new Constructor(buffer, byteOffset, byteLength / Constructor.BYTES_PER_ELEMENT);
    }
  }
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** A u64 (a number below 2^53) little-endian at `at`. */
function writeU64LE(target: Uint8Array, at: number, value: number): void {
  writeU32LE(target, at, value % 0x100000000);
  writeU32LE(target, at + 4, Math.floor(value / 0x100000000));
}
function writeU32LE(target: Uint8Array, at: number, value: number): void {
  target[at] = value & 0xff;
  target[at + 1] = (value >>> 8) & 0xff;
  target[at + 2] = (value >>> 16) & 0xff;
  target[at + 3] = value >>> 24;
}

// Byte-wise reads: cheaper than making a DataView per message.
function readU16BE(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}
function readU32BE(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}
function readU32LE(bytes: Uint8Array, at: number): number {
  return bytes[at + 3]! * 0x1000000 + ((bytes[at + 2]! << 16) | (bytes[at + 1]! << 8) | bytes[at]!);
}
/** A u64 as a number; the validator has checked it is below 2^53. */
function readU64LE(bytes: Uint8Array, at: number): number {
  return readU32LE(bytes, at + 4) * 0x100000000 + readU32LE(bytes, at);
}

// ---------------------------------------------------------------------------------------------------
// Encoding

/** Zero bytes for padding parts (never written to). */
const PADDING: readonly Uint8Array[] = (() => {
  const zeros = new Uint8Array(8);
  return Array.from({ length: 8 }, (_, n) => zeros.subarray(0, n));
})();

/**
 * Encodes a value. Returns the message as parts to be written back to back (header+msgpack first, then
 * out-of-band typed-array bytes as VIEWS of the caller's arrays: never copied), and the total length.
 * Throws TSMPI_ERR_SERIALIZE, before anything is sent, for a value that cannot be encoded exactly.
 */
export function encodeObject(value: unknown): { parts: Uint8Array[]; byteLength: number } {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    const kind = binaryKind(value);
    if (kind >= 0) {
      const bytes = binaryBytes(value);
      return bytes.byteLength < outOfBandThresholdBytes ? encodeInBandBinary(kind, bytes) : encodeOutOfBandBinary(kind, bytes);
    }
  }
  const prepared = prepareForPacking(value);
  const outer = encoding;
  // A nested call (a getter in the value that itself sends) gets its own state.
  const state = outer === null ? sharedEncodeState : new EncodeState();
  state.outOfBandBytes = 0; // (the list is empty: emptied in `finally` by the previous call)
  encoding = state;
  try {
    let packed: Buffer;
    try {
      packed = packr.pack(prepared, RESERVE_START_SPACE | CODEC_HEADER_BYTES);
    } catch (e) {
      throw serializeErrorFrom(e);
    }
    const msgpackLength = packed.length - CODEC_HEADER_BYTES;
    if (msgpackLength > 0xffffffff) {
      throw tsmpiError('TSMPI_ERR_SERIALIZE', `the msgpack part of this value is ${msgpackLength} bytes (limit 4 GiB - 1)`);
    }
    writeCodecHeader(packed, msgpackLength);
    const outOfBand = state.outOfBand;
    if (outOfBand.length === 0) return { parts: [packed], byteLength: packed.length };

    const parts: Uint8Array[] = [packed];
    let offset = packed.length;
    for (const bytes of outOfBand) {
      const padding = align8(offset) - offset;
      if (padding > 0) parts.push(PADDING[padding]!);
      parts.push(bytes);
      offset += padding + bytes.byteLength;
    }
    return { parts, byteLength: offset };
  } finally {
    // Drop references to the caller's arrays (and start the next call empty, even after a throw).
    if (state.outOfBand.length !== 0) state.outOfBand.length = 0;
    encoding = outer;
  }
}

/**
 * A small ArrayBuffer or view as the whole value: the same bytes msgpackr would write through the
 * EXT_IN_BAND extension, written directly. Sending small arrays as objects is common, and going through
 * msgpackr's setup and generic paths costs more than the copy itself.
 */
function encodeInBandBinary(kind: number, bytes: Uint8Array): { parts: Uint8Array[]; byteLength: number } {
  const dataLength = 1 + bytes.byteLength;
  const msgpackLength = extHeaderBytes(dataLength) + dataLength;
  const message = Buffer.allocUnsafe(CODEC_HEADER_BYTES + msgpackLength);
  writeCodecHeader(message, msgpackLength);
  const data = writeExtHeaderAt(message, CODEC_HEADER_BYTES, EXT_IN_BAND, dataLength);
  message[data] = kind;
  message.set(bytes, data + 1);
  return { parts: [message], byteLength: message.length };
}

/**
 * A larger ArrayBuffer or view as the whole value: the header and the one out-of-band record msgpackr
 * would write, padded to the out-of-band region, then the caller's bytes as they are.
 */
function encodeOutOfBandBinary(kind: number, bytes: Uint8Array): { parts: Uint8Array[]; byteLength: number } {
  const head = Buffer.allocUnsafe(OUT_OF_BAND_ALONE_START);
  writeCodecHeader(head, OUT_OF_BAND_RECORD_BYTES);
  writeOutOfBandRecordAt(head, CODEC_HEADER_BYTES, kind, 0, bytes.byteLength);
  head.fill(0, CODEC_HEADER_BYTES + OUT_OF_BAND_RECORD_BYTES);
  return { parts: [head, bytes], byteLength: OUT_OF_BAND_ALONE_START + bytes.byteLength };
}

function writeCodecHeader(message: Uint8Array, msgpackLength: number): void {
  writeU32LE(message, 0, msgpackLength);
  message[4] = CODEC_VERSION;
  message[5] = 0;
  message[6] = 0;
  message[7] = 0;
}

function serializeErrorFrom(e: unknown): TsmpiError {
  if (e instanceof TsmpiError) return e;
  if (e instanceof Unserializable) return tsmpiError('TSMPI_ERR_SERIALIZE', `cannot serialize ${e.what}`, e);
  const reason = e instanceof RangeError && /call stack/i.test(e.message)
    ? 'the value nests too deeply for the remaining stack'
    : e instanceof Error ? e.message : String(e);
  return tsmpiError('TSMPI_ERR_SERIALIZE', `cannot serialize this value: ${reason}`, e);
}

// ---------------------------------------------------------------------------------------------------
// The validation walk: runs before msgpackr, rejects what cannot be sent (naming where it is), and
// returns the value to pack: the value itself, or — copy on write, only along the path to a change —
// a copy with markers where msgpackr alone would not round-trip (Maps, -0, lone surrogates, Errors).

/** A value that cannot be sent; `path` collects the way to it, innermost segment first. */
class Unserializable extends Error {
  readonly path: string[] = [];
  constructor(readonly what: string, readonly tooDeep = false, readonly hint = '') {
    super(what);
  }
}

function prepareForPacking(value: unknown): unknown {
  try {
    return prepare(value, 0);
  } catch (e) {
    if (!(e instanceof Unserializable)) throw tsmpiError('TSMPI_ERR_SERIALIZE', `cannot serialize this value: ${String(e)}`, e);
    if (e.tooDeep) {
      const cycle = findCycle(value);
      if (cycle !== undefined) {
        throw tsmpiError('TSMPI_ERR_SERIALIZE',
          `cannot serialize a cyclic structure: ${formatPath(cycle.from)} refers back to ${formatPath(cycle.to)} (cycles are not supported)`);
      }
    }
    const hint = e.hint ? ` (${e.hint})` : '';
    throw tsmpiError('TSMPI_ERR_SERIALIZE', `cannot serialize ${e.what} at ${formatPath(e.path.reverse())}${hint}`);
  }
}

function formatPath(segments: readonly string[]): string {
  const shown = segments.length > 12 ? [...segments.slice(0, 6), '…', ...segments.slice(-5)] : segments;
  return 'value' + shown.join('');
}

function propertySegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

const stringIsWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/** `depth` counts the containers around `value`. */
function prepare(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'number':
      return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
    case 'string':
      return stringIsWellFormed.call(value) ? value : new IllFormedString(value);
    case 'boolean':
    case 'undefined':
    case 'bigint':
      return value;
    case 'object':
      return value === null ? null : prepareObject(value, depth);
    case 'function':
      throw new Unserializable(value.name ? `a function (${value.name})` : 'a function');
    default:
      throw new Unserializable(`a ${typeof value}`);
  }
}

/** True when `prepared` replaced `original` (NaN is the one value unequal to itself, and never replaced). */
function replaced(original: unknown, prepared: unknown): boolean {
  return prepared !== original && prepared === prepared;
}

function prepareObject(object: object, depth: number): unknown {
  const proto = Object.getPrototypeOf(object);
  if (proto === Object.prototype || proto === null) return preparePlainObject(object as Record<string, unknown>, depth);
  if (Array.isArray(object)) return prepareArray(object, depth);
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer || object instanceof Date) return object;
  if (object instanceof Map) return prepareMap(object, depth);
  if (object instanceof Set) return prepareSet(object, depth);
  if (object instanceof Error) return prepareError(object, depth);
  if (object instanceof RegExp) {
    tooDeep(depth); // msgpackr writes [source, flags]: one container level
    return object;
  }
  if (typeof SharedArrayBuffer === 'function' && object instanceof SharedArrayBuffer) {
    throw new Unserializable('a SharedArrayBuffer', false, 'copy it into an ArrayBuffer or a typed array to send its contents');
  }
  // A class instance travels as its own enumerable properties (as structuredClone does). Objects whose
  // state lives in internal slots (WeakMap, Promise, boxed primitives, iterators, …) would arrive empty.
  const tag = Object.prototype.toString.call(object);
  if (tag === '[object Object]') return preparePlainObject(object as Record<string, unknown>, depth);
  throw new Unserializable(`an object of type ${tag.slice(8, -1)}`);
}

function tooDeep(depth: number): void {
  if (depth >= MAX_NESTING_DEPTH) throw new Unserializable(`a value nested deeper than ${MAX_NESTING_DEPTH} levels`, true);
}

function preparePlainObject(object: Record<string, unknown>, depth: number): unknown {
  tooDeep(depth);
  const keys = Object.keys(object);
  let copy: Record<string, unknown> | undefined;
  let hasProtoKey = false;
  let i = 0;
  try {
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      if (key === '__proto__') hasProtoKey = true;
      const item = object[key];
      const prepared = prepare(item, depth + 1);
      if (copy === undefined && replaced(item, prepared)) {
        // Null prototype: an own "__proto__" key stays a property.
        copy = Object.create(null) as Record<string, unknown>;
        for (let j = 0; j < i; j++) copy[keys[j]!] = object[keys[j]!];
      }
      if (copy !== undefined) copy[key] = prepared;
    }
  } catch (e) {
    if (e instanceof Unserializable) e.path.push(propertySegment(keys[i]!));
    throw e;
  }
  const source = copy ?? object;
  // msgpackr picks the array and Map encodings by `value.constructor`, so an object whose own
  // `constructor` property is Array or Map would be misread; and its decoder renames an own
  // "__proto__" key. Such objects go through an explicit plain-object record instead.
  const constructor = object.constructor;
  if (hasProtoKey || constructor === Array || constructor === Map) {
    const flat: unknown[] = [];
    for (const key of keys) flat.push(key, source[key]);
    return new PlainObjectEntries(flat);
  }
  return source;
}

function prepareArray(array: unknown[], depth: number): unknown {
  tooDeep(depth);
  const length = array.length;
  let copy: unknown[] | undefined;
  let i = 0;
  try {
    for (; i < length; i++) {
      const item = array[i];
      const prepared = prepare(item, depth + 1);
      if (copy !== undefined) copy.push(prepared);
      else if (replaced(item, prepared)) {
        copy = [];
        for (let j = 0; j < i; j++) copy.push(array[j]);
        copy.push(prepared);
      }
    }
  } catch (e) {
    if (e instanceof Unserializable) e.path.push(`[${i}]`);
    throw e;
  }
  return copy ?? array;
}

function prepareMap(map: Map<unknown, unknown>, depth: number): unknown {
  tooDeep(depth);
  const flat = new Array<unknown>(map.size * 2);
  let i = 0;
  for (const [key, item] of map) {
    try {
      flat[i] = prepare(key, depth + 1);
    } catch (e) {
      if (e instanceof Unserializable) e.path.push(`<key of Map entry ${i / 2}>`);
      throw e;
    }
    try {
      flat[i + 1] = prepare(item, depth + 1);
    } catch (e) {
      if (e instanceof Unserializable) e.path.push(`.get(${describeKey(key)})`);
      throw e;
    }
    i += 2;
  }
  return new MapEntries(flat);
}

function describeKey(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > 40 ? key.slice(0, 40) + '…' : key);
  if (typeof key === 'bigint') return `${key}n`;
  if (typeof key === 'object' && key !== null) return `<${Array.isArray(key) ? 'array' : 'object'}>`;
  return String(key);
}

function prepareSet(set: Set<unknown>, depth: number): unknown {
  tooDeep(depth);
  let prepared: unknown[] | undefined;
  let i = 0;
  try {
    for (const item of set) {
      const p = prepare(item, depth + 1);
      if (prepared !== undefined) prepared.push(p);
      else if (replaced(item, p)) {
        prepared = [];
        let j = 0;
        for (const earlier of set) {
          if (j++ === i) break;
          prepared.push(earlier);
        }
        prepared.push(p);
      }
      i++;
    }
  } catch (e) {
    if (e instanceof Unserializable) e.path.push(`<Set element ${i}>`);
    throw e;
  }
  return prepared === undefined ? set : new Set(prepared);
}

function prepareError(error: Error, depth: number): unknown {
  tooDeep(depth);
  const name = typeof error.name === 'string' ? error.name : 'Error';
  const message = typeof error.message === 'string' ? error.message : String(error.message);
  const stack = typeof error.stack === 'string' ? error.stack : '';
  const fields: unknown[] = [prepare(name, depth + 1), prepare(message, depth + 1), prepare(stack, depth + 1)];
  if ('cause' in error) {
    try {
      fields.push(prepare(error.cause, depth + 1));
    } catch (e) {
      if (e instanceof Unserializable) e.path.push('.cause');
      throw e;
    }
  }
  return new ErrorFields(fields);
}

/** Children of a container as [segment, child] pairs (for the cycle search only). */
function childrenOf(value: object): [string, unknown][] {
  if (Array.isArray(value)) return value.map((item, i) => [`[${i}]`, item]);
  if (value instanceof Map) {
    const out: [string, unknown][] = [];
    let i = 0;
    for (const [key, item] of value) {
      out.push([`<key of Map entry ${i++}>`, key], [`.get(${describeKey(key)})`, item]);
    }
    return out;
  }
  if (value instanceof Set) return [...value].map((item, i) => [`<Set element ${i}>`, item]);
  if (value instanceof Error) return 'cause' in value ? [['.cause', value.cause]] : [];
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return [];
  return Object.keys(value).map((key) => [propertySegment(key), (value as Record<string, unknown>)[key]]);
}

/** The first reference back to an enclosing container, as paths (depth-first, bounded by the limit). */
function findCycle(root: unknown): { from: string[]; to: string[] } | undefined {
  const ancestors: object[] = [];
  const path: string[] = [];
  const visit = (value: unknown): { from: string[]; to: string[] } | undefined => {
    if (typeof value !== 'object' || value === null) return undefined;
    const at = ancestors.indexOf(value);
    if (at >= 0) return { from: [...path], to: path.slice(0, at) };
    if (ancestors.length > MAX_NESTING_DEPTH) return undefined;
    ancestors.push(value);
    for (const [segment, child] of childrenOf(value)) {
      path.push(segment);
      const found = visit(child);
      path.pop();
      if (found !== undefined) return found;
    }
    ancestors.pop();
    return undefined;
  };
  return visit(root);
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes one message laid out contiguously in `payload` (which the caller owns: decoded typed arrays
 * may be views into it). Anything malformed throws TSMPI_ERR_PROTOCOL.
 */
export function decodeObject(payload: Uint8Array): unknown {
  if (!(payload instanceof Uint8Array)) throw tsmpiError('TSMPI_ERR_PROTOCOL', 'object payload is not a Uint8Array');
  const total = payload.length;
  if (total < CODEC_HEADER_BYTES) throw malformed(`message of ${total} bytes is shorter than its ${CODEC_HEADER_BYTES}-byte header`);
  const msgpackLength = readU32LE(payload, 0);
  if (payload[4] !== CODEC_VERSION) throw malformed(`unknown codec version ${payload[4]}`);
  if ((payload[5]! | payload[6]! | payload[7]!) !== 0) throw malformed('reserved header bytes are not zero');
  const msgpackEnd = CODEC_HEADER_BYTES + msgpackLength;
  if (msgpackEnd > total) throw malformed(`header declares ${msgpackLength} msgpack bytes but the message has ${total - CODEC_HEADER_BYTES}`);
  if (total === msgpackEnd) {
    // One in-band binary as the whole value (what encodeInBandBinary writes) needs neither the walk
    // nor msgpackr: checkExt validates it as the walk would.
    const token = payload[CODEC_HEADER_BYTES];
    const lengthBytes = token === 0xc7 ? 1 : token === 0xc8 ? 2 : token === 0xc9 ? 4 : 0;
    const at = CODEC_HEADER_BYTES + 1 + lengthBytes; // the ext type
    if (lengthBytes > 0 && at < msgpackEnd && payload[at] === EXT_IN_BAND) {
      const length = lengthBytes === 1 ? payload[at - 1]! : lengthBytes === 2 ? readU16BE(payload, at - 2) : readU32BE(payload, at - 4);
      if (at + 1 + length === msgpackEnd) {
        checkExt(payload, token!, at, length, msgpackEnd, msgpackEnd);
        return inBandBinary(payload, at + 1, msgpackEnd);
      }
    }
  }
  const outOfBandStart = align8(msgpackEnd);
  if (msgpackLength === OUT_OF_BAND_RECORD_BYTES && payload[CODEC_HEADER_BYTES] === 0xc7
    && payload[CODEC_HEADER_BYTES + 1] === OUT_OF_BAND_RECORD_DATA_BYTES && payload[CODEC_HEADER_BYTES + 2] === EXT_OUT_OF_BAND) {
    // One out-of-band binary as the whole value (what encodeOutOfBandBinary writes), checked as the
    // walk would check it.
    const at = CODEC_HEADER_BYTES + 2; // the ext type
    const messageEnd = checkExt(payload, 0xc7, at, OUT_OF_BAND_RECORD_DATA_BYTES, msgpackEnd, outOfBandStart);
    if (messageEnd !== total) throw malformed(`message ends at byte ${messageEnd} but the payload has ${total}`);
    return outOfBandBinary(payload, at + 1, payload, outOfBandStart);
  }
  const messageEnd = validateMessage(payload, msgpackEnd, outOfBandStart);
  if (messageEnd !== total) throw malformed(`message ends at byte ${messageEnd} but the payload has ${total}`);

  const outerPayload = decodingPayload;
  const outerStart = decodingOutOfBandStart;
  decodingPayload = payload;
  decodingOutOfBandStart = outOfBandStart;
  try {
    if (msgpackLength <= SCRATCH_DECODE_LIMIT) {
      if (msgpackLength <= 32) { // a loop beats making the subarray view that `set` needs
        for (let i = 0; i < msgpackLength; i++) decodeScratch[i] = payload[CODEC_HEADER_BYTES + i]!;
      } else {
        decodeScratch.set(payload.subarray(CODEC_HEADER_BYTES, msgpackEnd));
      }
      scratchRange.end = msgpackLength;
      return unpackr.unpack(decodeScratch, scratchRange);
    }
    unpackRange.end = msgpackEnd;
    return unpackr.unpack(payload, unpackRange);
  } catch (e) {
    throw malformed(`msgpack does not decode: ${e instanceof Error ? e.message : String(e)}`, e);
  } finally {
    decodingPayload = outerPayload;
    decodingOutOfBandStart = outerStart;
  }
}

function malformed(message: string, cause?: unknown): TsmpiError {
  return tsmpiError('TSMPI_ERR_PROTOCOL', `malformed object message: ${message}`, cause);
}

/** Items still to read in each open container; index = nesting level (0: the top-level value). */
const itemsLeft = new Float64Array(MAX_NESTING_DEPTH + 1);

/**
 * Walks the msgpack in payload[CODEC_HEADER_BYTES, msgpackEnd) without building anything: exactly one
 * value, every length within the bytes left, nesting within MAX_NESTING_DEPTH, only the ext types and
 * forms this codec writes, out-of-band records within the payload. Returns where the message ends
 * (the end of the last out-of-band buffer, or msgpackEnd).
 */
function validateMessage(bytes: Uint8Array, msgpackEnd: number, outOfBandStart: number): number {
  const end = msgpackEnd;
  let pos = CODEC_HEADER_BYTES;
  let messageEnd = msgpackEnd;
  let level = 0;
  let tag = NO_TAG;
  itemsLeft[0] = 1;
  for (;;) {
    if (itemsLeft[level] === 0) {
      if (level === 0) break;
      level--;
      continue;
    }
    itemsLeft[level]--;
    if (pos >= end) throw malformed('msgpack ends inside a value');
    const token = bytes[pos++]!;
    let items = -1; // items of a container, -1 for anything else
    let need = 0; // bytes this token's length field takes (checked before reading it)

    if (tag !== NO_TAG) {
      // A tag's value must be an array, of the length its decoder expects.
      let length: number;
      if (token >= 0x90 && token <= 0x9f) length = token - 0x90;
      else if (token === 0xdc && pos + 2 <= end) length = readU16BE(bytes, pos);
      else if (token === 0xdd && pos + 4 <= end) length = readU32BE(bytes, pos);
      else throw malformed(`ext tag 0x${tag.toString(16)} is not followed by an array`);
      const fits =
        tag === EXT_SET ? true
          : tag === EXT_REGEXP ? length === 2
            : tag === EXT_ERROR ? length === 3 || length === 4
              : length % 2 === 0; // Map, plain object: key/value pairs
      if (!fits) throw malformed(`ext tag 0x${tag.toString(16)} is followed by an array of ${length} items`);
      tag = NO_TAG;
    }

    if (token < 0x80 || token >= 0xe0) {
      // fixint
    } else if (token < 0x90) {
      items = (token - 0x80) * 2;
    } else if (token < 0xa0) {
      items = token - 0x90;
    } else if (token < 0xc0) {
      pos += token - 0xa0;
    } else {
      switch (token) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xcc: case 0xd0: pos += 1; break;
        case 0xcd: case 0xd1: pos += 2; break;
        case 0xca: case 0xce: case 0xd2: pos += 4; break;
        case 0xcb: case 0xcf: case 0xd3: pos += 8; break;
        case 0xd9: need = 1; break;
        case 0xda: case 0xdc: case 0xde: case 0xc8: need = 2; break;
        case 0xdb: case 0xdd: case 0xdf: case 0xc9: need = 4; break;
        case 0xc7: need = 1; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: break;
        default: throw malformed(`msgpack token 0x${token.toString(16)} is not one this codec writes`);
      }
      if (need > 0) {
        if (pos + need > end) throw malformed('msgpack ends inside a length field');
        const length = need === 1 ? bytes[pos]! : need === 2 ? readU16BE(bytes, pos) : readU32BE(bytes, pos);
        pos += need;
        switch (token) {
          case 0xd9: case 0xda: case 0xdb: pos += length; break; // str
          case 0xdc: case 0xdd: items = length; break; // array
          case 0xde: case 0xdf: items = length * 2; break; // map
          default: { // ext 8/16/32
            const result = checkExt(bytes, token, pos, length, end, outOfBandStart);
            if (result > messageEnd) messageEnd = result; // (tags are fixext1 only: never -1 here)
            pos += 1 + length;
          }
        }
      } else if (token >= 0xd4 && token <= 0xd8) { // fixext 1/2/4/8/16
        const length = 1 << (token - 0xd4);
        const result = checkExt(bytes, token, pos, length, end, outOfBandStart);
        if (result > messageEnd) messageEnd = result;
        if (result < 0) {
          tag = bytes[pos]!;
          itemsLeft[level]++; // the tagged array is this same item
        }
        pos += 1 + length;
      }
    }
    if (pos > end) throw malformed('msgpack ends inside a value');
    if (items >= 0) {
      // Every item takes at least one byte: a claim beyond the bytes left is a lie, caught before
      // msgpackr could allocate for it.
      if (items > end - pos) throw malformed(`a container claims ${items} items with ${end - pos} bytes left`);
      if (level >= MAX_NESTING_DEPTH) throw malformed(`nesting deeper than ${MAX_NESTING_DEPTH} levels`);
      itemsLeft[++level] = items;
    }
  }
  if (pos !== end) throw malformed(`${end - pos} bytes follow the msgpack value`);
  return messageEnd;
}

/**
 * Checks one ext (type byte at `at`, then `length` data bytes). Returns -1 for a tag (its value is the
 * next item), the end of the out-of-band buffer for an out-of-band record, and 0 otherwise.
 */
function checkExt(bytes: Uint8Array, token: number, at: number, length: number, end: number, outOfBandStart: number): number {
  if (at + 1 + length > end) throw malformed('msgpack ends inside an ext');
  const type = bytes[at]!;
  const data = at + 1;
  const fixext1 = token === 0xd4;
  switch (type) {
    case EXT_UNDEFINED:
    case EXT_NEGATIVE_ZERO:
      if (fixext1) return 0;
      break;
    case EXT_SET:
    case EXT_REGEXP:
    case EXT_MAP:
    case EXT_PLAIN_OBJECT:
    case EXT_ERROR:
      if (fixext1) return -1;
      break;
    case EXT_TIMESTAMP:
      if (length === 4 || length === 8 || (length === 12 && token === 0xc7) || (fixext1 && bytes[data] === 0xff)) return 0;
      break;
    case EXT_BIGINT:
      if (length >= 1) return 0;
      break;
    case EXT_UTF16:
      if (length % 2 === 0) return 0;
      break;
    case EXT_IN_BAND: {
      const elementBytes = length >= 1 ? KIND_ELEMENT_BYTES[bytes[data]!] ?? 0 : 0;
      if (elementBytes > 0 && (length - 1) % elementBytes === 0) return 0;
      break;
    }
    case EXT_OUT_OF_BAND: {
      if (length !== OUT_OF_BAND_RECORD_DATA_BYTES || token !== 0xc7) break;
      const elementBytes = KIND_ELEMENT_BYTES[bytes[data]!] ?? 0;
      const offsetHigh = readU32LE(bytes, data + 5);
      const lengthHigh = readU32LE(bytes, data + 13);
      if (elementBytes === 0 || offsetHigh >= 0x200000 || lengthHigh >= 0x200000) break;
      const offset = offsetHigh * 0x100000000 + readU32LE(bytes, data + 1);
      const byteLength = lengthHigh * 0x100000000 + readU32LE(bytes, data + 9);
      if (offset % 8 !== 0 || byteLength % elementBytes !== 0) break;
      const bufferEnd = outOfBandStart + offset + byteLength;
      if (bufferEnd > bytes.length) {
        throw malformed(`out-of-band buffer at ${outOfBandStart + offset} of ${byteLength} bytes lies beyond the ${bytes.length}-byte payload`);
      }
      return bufferEnd;
    }
    default:
      throw malformed(`unknown ext type 0x${type.toString(16)}`);
  }
  throw malformed(`ext type 0x${type.toString(16)} with ${length} data bytes (token 0x${token.toString(16)}) is not valid`);
}

/**
 * For tests and benchmarks only: sets the byte size from which typed arrays go out of band (the
 * decoder accepts either form whatever the setting) and returns the previous one.
 */
export function setOutOfBandThresholdForTesting(bytes: number): number {
  const previous = outOfBandThresholdBytes;
  outOfBandThresholdBytes = bytes;
  return previous;
}
