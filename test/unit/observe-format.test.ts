// The pieces of runtime/observe/ that need no job: a recorder's bookkeeping (message numbers per pair,
// spans, the cap), its recording as parts and back (and what decoding refuses), flow ids, and the clock
// offset's interpolation.
import { describe, expect, it } from 'vitest';
import { offsetAt, measureOffset } from '../../runtime/observe/clock.js';
import { PART_BYTES, decodeRecording, encodeRecording } from '../../runtime/observe/format.js';
import { buildJobModel, flowId } from '../../runtime/observe/job-model.js';
import { Recorder, UNOBSERVED_CONTEXT } from '../../runtime/observe/recorder.js';
import { callId } from '../../runtime/observe/calls.js';

const SETTINGS = { profile: true, trace: true, matrix: true, eventCap: 1000 };

/** Two recorders that exchange `n` messages 0 → 1, each sent in a Send span and delivered to a Recv span. */
function exchange(n: number, cap = 1000): [Recorder, Recorder] {
  const a = new Recorder(0, 2, { ...SETTINGS, eventCap: cap }), b = new Recorder(1, 2, { ...SETTINGS, eventCap: cap });
  for (let i = 0; i < n; i++) {
    const send = a.beginSpan(callId('Send'), performance.now(), 1, 5, 0, -1, a.intern('COMM_WORLD'));
    a.current = send;
    a.currentCall = callId('Send');
    a.messageSent(1, 100 + i, 0, 5);
    a.current = 0;
    a.currentCall = 0;
    a.endSpan(send, callId('Send'), performance.now(), false);
    const recv = b.beginSpan(callId('Recv'), performance.now(), 0, 5, 0, -1, b.intern('COMM_WORLD'));
    b.current = recv;
    const postedBy = b.postingSpan();
    b.current = 0;
    b.messageDelivered(postedBy, 0, 100 + i, 0, 5, b.messageArrived(0, 0));
    b.endSpan(recv, callId('Recv'), performance.now(), false);
  }
  a.stop();
  b.stop();
  return [a, b];
}

describe('recorder and recording', () => {
  it('numbers messages per pair on both ends, so every send meets its delivery', () => {
    const [a, b] = exchange(5);
    const job = buildJobModel([decodeRecording(encodeRecording(a, 'h'), 0), decodeRecording(encodeRecording(b, 'h'), 1)]);
    expect(job.flows.size).toBe(5);
    expect(job.unmatchedSends + job.unmatchedDelivers).toBe(0);
    for (const flow of job.flows.values()) {
      expect(flow.send.bytes).toBe(flow.deliver.bytes);
      expect(job.ranks[1]!.spanById.get(flow.deliver.owner)!.name).toBe('Recv');
    }
    expect(a.matrixBytes[2 * 1]).toBe(5 * 100 + 10);
    expect(a.matrixMessages[2 * 1]).toBe(5);
  });

  it('messages on the runtime\'s own clock context are counted on neither end', () => {
    const r = new Recorder(0, 2, SETTINGS);
    r.messageSent(1, 8, UNOBSERVED_CONTEXT, 1);
    expect(r.messageArrived(1, UNOBSERVED_CONTEXT)).toBe(0);
    expect(r.matrixMessages[2]).toBe(0);
    expect(r.messageArrived(1, 0)).toBe(1);
  });

  it('past the cap, events are dropped and counted, totals stay exact', () => {
    const [a] = exchange(10, 6);
    expect(a.events.count).toBe(6);
    expect(a.dropped).toBe(14);
    expect(a.calls[callId('Send')]!.count).toBe(10);
    expect(a.sizes[callId('Send')]!.count).toBe(10);
  });

  it('a recording of many events travels in parts of at most PART_BYTES, and comes back the same', () => {
    const r = new Recorder(0, 2, { ...SETTINGS, eventCap: 40_000 });
    for (let i = 0; i < 30_000; i++) r.messageSent(1, i, 0, 1);
    r.stop();
    const parts = encodeRecording(r, 'host');
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(PART_BYTES);
    const back = decodeRecording(parts, 0);
    expect(back.count).toBe(30_000);
    expect(back.meta.matrixMessages[2]).toBe(30_000);
    // A rank that died while sending: a prefix of its events is still a recording.
    expect(decodeRecording(parts.slice(0, 2), 0).count).toBeLessThan(30_000);
  });

  it('decoding refuses what a rank could not have sent', () => {
    const [a] = exchange(2);
    const parts = encodeRecording(a, 'h');
    expect(() => decodeRecording(parts, 1)).toThrow(/it says rank 0/);
    expect(() => decodeRecording(parts.slice(1), 0)).toThrow(/no meta/);
    expect(() => decodeRecording([...parts, Uint8Array.of(1, 2, 3)], 0)).toThrow(/partial events/);
    expect(() => decodeRecording([Uint8Array.of(9)], 0)).toThrow(/part kind 9/);
    expect(() => decodeRecording([Uint8Array.of(0, 0x92)], 0)).toThrow(/not msgpack/);
  });
});

describe('flow ids and clocks', () => {
  it('flow ids are integers in [1, 2^53), distinct across pairs and messages', () => {
    const seen = new Set<number>();
    for (const size of [1, 2, 3, 1024]) {
      for (const [s, d, i] of [[0, 0, 1], [size - 1, size - 1, 2 ** 20], [0, size - 1, 7]] as const) {
        const id = flowId(s, d, i, size);
        expect(Number.isSafeInteger(id) && id >= 1 && id < 2 ** 53).toBe(true);
        seen.add(size * 1e9 + id);
      }
    }
    expect(flowId(0, 1, 1, 4)).not.toBe(flowId(1, 0, 1, 4));
    expect(flowId(0, 1, 1, 4)).not.toBe(flowId(0, 1, 2, 4));
  });

  it('the offset is interpolated between the start and end measurements', () => {
    expect(offsetAt([], 5)).toBe(0);
    expect(offsetAt([[0, 2, 0.1]], 100)).toBe(2);
    expect(offsetAt([[0, 2, 0.1], [100, 4, 0.1]], 50)).toBe(3);
  });

  it('measureOffset keeps the round with the shortest round trip', async () => {
    let round = 0;
    // The collector's clock runs 1000 ms ahead; the second round is the quickest.
    const sample = await measureOffset(async () => {
      const delay = [5, 0, 3][round++ % 3]!;
      await new Promise((resolve) => setTimeout(resolve, delay));
      return performance.timeOrigin + performance.now() + 1000;
    }, 3);
    expect(sample[2]).toBeLessThan(5);
    expect(Math.abs(sample[1] - 1000)).toBeLessThan(sample[2] + 1);
  });
});
