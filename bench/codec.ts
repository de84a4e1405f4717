// Micro benchmark of the object codec (runtime/p2p/codec.ts), in one process, no sockets.
//
//   npx tsc -p . && node dist/bench/codec.js          (add --quick for shorter runs)
//
// Reports ns/op for encode, decode and the round trip of the values the brief names (a number, a
// 100-char string, a small object, an object holding a 16 MiB Float64Array), bare msgpackr for
// comparison, and the sweep behind OOB_THRESHOLD_BYTES: a Float64Array of 256 B … 16 KiB inside an
// object, in band vs out of band, counting encode + gathering the parts into one buffer (what a
// socket write does anyway) + decode.
import { Packr, Unpackr } from 'msgpackr';
import { decodeObject, encodeObject, OOB_THRESHOLD_BYTES, setOutOfBandThresholdForTesting } from '../runtime/p2p/codec.js';

const quick = process.argv.includes('--quick');
const TARGET_NS = quick ? 30e6 : 150e6; // per sample
const SAMPLES = quick ? 3 : 7;

/** Best-of-SAMPLES ns per call of `f`, with the iteration count sized to ~TARGET_NS per sample. */
function measure(f: () => unknown): number {
  let sink: unknown;
  let iterations = 1;
  for (;;) { // calibrate (also warms up)
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = f();
    const elapsed = Number(process.hrtime.bigint() - t0);
    if (elapsed > TARGET_NS / 10) {
      iterations = Math.max(1, Math.ceil((iterations * TARGET_NS) / elapsed));
      break;
    }
    iterations *= 4;
  }
  let best = Infinity;
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = f();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / iterations);
  }
  if (sink === Symbol.for('never')) console.log(sink);
  return best;
}

/** Reused receive buffer (a transport reuses its buffers too; allocating one per message would
 *  dominate the small cases). 8-aligned, as a fresh ArrayBuffer is. */
let scratch = new Uint8Array(1 << 16);

/** The message gathered into one contiguous buffer, as a receiver holds it. */
function gather(encoded: { parts: Uint8Array[]; byteLength: number }): Uint8Array {
  if (scratch.length < encoded.byteLength) scratch = new Uint8Array(encoded.byteLength);
  let at = 0;
  for (const part of encoded.parts) {
    scratch.set(part, at);
    at += part.byteLength;
  }
  return scratch.subarray(0, encoded.byteLength);
}

function fmt(ns: number): string {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}

const bare = new Packr({ useRecords: false, moreTypes: true, structuredClone: false, variableMapSize: true });
const bareUnpack = new Unpackr({ useRecords: false, mapsAsObjects: true });

const big = new Float64Array(2 * 1024 * 1024).fill(1.25); // 16 MiB
const cases: [string, unknown][] = [
  ['number 42', 42],
  ['100-char string', 'x'.repeat(100)],
  ["{a:1,b:'x',c:[1,2,3]}", { a: 1, b: 'x', c: [1, 2, 3] }],
  ['{data: Float64Array 16 MiB}', { data: big }],
];

console.log(`object codec, Node ${process.version}, best of ${SAMPLES}`);
console.log('value'.padEnd(30), 'encode'.padStart(10), 'decode'.padStart(10), 'round trip'.padStart(11), '| bare msgpackr pack+unpack');
for (const [name, value] of cases) {
  const payload = gather(encodeObject(value)).slice();
  const encode = measure(() => encodeObject(value));
  const decode = measure(() => decodeObject(payload));
  const roundTrip = measure(() => decodeObject(gather(encodeObject(value))));
  const isBig = value === cases[3]![1];
  const bareRoundTrip = isBig ? NaN : measure(() => bareUnpack.unpack(bare.pack(value)));
  console.log(name.padEnd(30), fmt(encode).padStart(10), fmt(decode).padStart(10), fmt(roundTrip).padStart(11),
    isBig ? '| (round trip here includes gathering 16 MiB into one buffer)' : `| ${fmt(bareRoundTrip)}`);
}
{
  // The 16 MiB case must be O(1): no copy at encode, a view at decode.
  const { parts } = encodeObject({ data: big });
  const decoded = decodeObject(gather({ parts, byteLength: parts.reduce((n, p) => n + p.byteLength, 0) }).slice()) as { data: Float64Array };
  console.log(`16 MiB: encode hands out the caller's memory: ${parts.some((p) => p.buffer === big.buffer)}; ` +
    `decode returns a view: ${decoded.data.byteOffset > 0 || decoded.data.buffer.byteLength > decoded.data.byteLength}`);
  const copy = measure(() => gather({ parts: [new Uint8Array(big.buffer)], byteLength: big.byteLength }));
  console.log(`(for scale: one 16 MiB copy = ${fmt(copy)})`);
}

console.log('\nthreshold sweep: {x: Float64Array}, encode + gather into one buffer + decode');
console.log('payload byteOffset 8-aligned (decode makes a view) and at offset 1 (decode copies)');
console.log('bytes'.padStart(8), 'in band'.padStart(10), 'out of band'.padStart(12), 'in band @1'.padStart(11), 'oob @1'.padStart(10));
for (const bytes of [64, 128, 256, 512, 1024, 2048, 4096, 16384]) {
  const value = { x: new Float64Array(bytes / 8).fill(0.5) };
  const aligned = () => decodeObject(gather(encodeObject(value)));
  const misaligned = () => {
    const encoded = encodeObject(value);
    gather({ parts: [new Uint8Array(1), ...encoded.parts], byteLength: encoded.byteLength + 1 });
    return decodeObject(scratch.subarray(1, 1 + encoded.byteLength));
  };
  const row: number[] = [];
  for (const threshold of [Infinity, 0]) {
    setOutOfBandThresholdForTesting(threshold);
    row.push(measure(aligned));
  }
  for (const threshold of [Infinity, 0]) {
    setOutOfBandThresholdForTesting(threshold);
    row.push(measure(misaligned));
  }
  setOutOfBandThresholdForTesting(OOB_THRESHOLD_BYTES);
  console.log(String(bytes).padStart(8), fmt(row[0]!).padStart(10), fmt(row[1]!).padStart(12), fmt(row[2]!).padStart(11), fmt(row[3]!).padStart(10));
}
console.log(`(OOB_THRESHOLD_BYTES = ${OOB_THRESHOLD_BYTES})`);
