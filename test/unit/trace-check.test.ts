// The trace checker (test/helpers/trace-check.ts) fails what Perfetto or DevTools would import wrongly,
// so that a passing trace in observe.test.ts means something: each case below breaks one rule.
import { describe, expect, it } from 'vitest';
import { checkTrace, type TraceEvent } from '../helpers/trace-check.js';

const meta: TraceEvent[] = [
  { ph: 'M', pid: 1, tid: 1000, name: 'process_name', args: { name: 'rank 0' } },
  { ph: 'M', pid: 2, tid: 2000, name: 'process_name', args: { name: 'rank 1' } },
];

/** A send on rank 0 and its delivery on rank 1, each a child slice of its call, joined by flow 7. */
function good(): TraceEvent[] {
  return [
    ...meta,
    { ph: 'X', cat: 'comm', name: 'Send', pid: 1, tid: 1000, ts: 10, dur: 20 },
    { ph: 'X', cat: 'comm', name: 'Recv', pid: 2, tid: 2000, ts: 12, dur: 30 },
    { ph: 'X', cat: 'msg', name: 'send → 1', pid: 1, tid: 1000, ts: 15, dur: 1 },
    { ph: 's', cat: 'msg', name: 'message', id: 7, pid: 1, tid: 1000, ts: 15 },
    { ph: 'X', cat: 'msg', name: 'recv ← 0', pid: 2, tid: 2000, ts: 25.5, dur: 1 },
    { ph: 'f', bp: 'e', cat: 'msg', name: 'message', id: 7, pid: 2, tid: 2000, ts: 25.5 },
  ];
}

function problemsOf(events: TraceEvent[]): string[] {
  return checkTrace({ traceEvents: events }).problems;
}

describe('trace checker', () => {
  it('accepts a well-formed trace and finds its arrow', () => {
    const check = checkTrace({ traceEvents: good() });
    expect(check.problems).toEqual([]);
    expect(check.arrows).toHaveLength(1);
    expect(check.arrows[0]!.to.event.name).toBe('recv ← 0');
    expect(check.arrows[0]!.to.parent!.event.name).toBe('Recv');
  });

  it('an arrow ending on the receive call that began earlier (no child slice at delivery) fails', () => {
    const events = good().filter((e) => e.name !== 'recv ← 0');
    expect(problemsOf(events).join('\n')).toMatch(/binds to "Recv".*not to a slice of cat msg starting at the flow event/);
  });

  it('an arrow whose end lands after its child slice ended (Perfetto keeps the stale slice on top) fails', () => {
    const events = good().map((e) => (e.ph === 'f' ? { ...e, ts: 27 } : e));
    expect(problemsOf(events).join('\n')).toMatch(/binds to "recv ← 0"/);
  });

  it('breaks of the flow rules fail: no bp, id 0 or above 2^53, a different cat, a missing end', () => {
    expect(problemsOf(good().map((e) => (e.ph === 'f' ? { ...e, bp: undefined } : e))).join('\n')).toMatch(/no "bp":"e"/);
    expect(problemsOf(good().map((e) => (e.id ? { ...e, id: 0 } : e))).join('\n')).toMatch(/not an integer in \[1, 2\^53\)/);
    expect(problemsOf(good().map((e) => (e.id ? { ...e, id: 2 ** 53 } : e))).join('\n')).toMatch(/not an integer in \[1, 2\^53\)/);
    expect(problemsOf(good().map((e) => (e.ph === 'f' ? { ...e, name: 'other' } : e))).join('\n')).toMatch(/differ in cat or name/);
    expect(problemsOf(good().filter((e) => e.ph !== 'f')).join('\n')).toMatch(/starts but never ends/);
  });

  it('slices that overlap without nesting, events out of order, pid 0 and shared tids fail', () => {
    const overlap = [...meta, { ph: 'X', cat: 'comm', name: 'a', pid: 1, tid: 1000, ts: 0, dur: 10 }, { ph: 'X', cat: 'comm', name: 'b', pid: 1, tid: 1000, ts: 5, dur: 10 }];
    expect(problemsOf(overlap).join('\n')).toMatch(/"b" .* overlaps "a"/);
    const unsorted = good();
    [unsorted[2], unsorted[3]] = [unsorted[3]!, unsorted[2]!];
    expect(problemsOf(unsorted).join('\n')).toMatch(/not in time order/);
    expect(problemsOf(good().map((e) => (e.pid === 1 ? { ...e, pid: 0 } : e))).join('\n')).toMatch(/pid 0/);
    expect(problemsOf(good().map((e) => (e.pid === 2 ? { ...e, tid: 1000 } : e))).join('\n')).toMatch(/tid 1000 is used by pids 1 and 2/);
  });

  it('a child ending exactly where its parent ends nests (slices are half-open)', () => {
    const events = [...meta, { ph: 'X', cat: 'comm', name: 'a', pid: 1, tid: 1000, ts: 0, dur: 10 }, { ph: 'X', cat: 'msg', name: 'c', pid: 1, tid: 1000, ts: 9, dur: 1 }];
    expect(problemsOf(events)).toEqual([]);
  });
});
