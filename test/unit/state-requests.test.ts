// tsmpirun's requests for the ranks' states (launcher/hangs.ts StateRequests): a request ends as soon as
// every awaited rank has answered or lost its control connection, and only a silent connected rank
// makes it wait for the deadline. The clock is vitest's fake one, so "ended without waiting" means the
// promise settled while no time passed.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STATE_REPORT_WAIT_MS, StateRequests, type Snapshot } from '../../launcher/hangs.js';
import type { RankState } from '../../runtime/control/messages.js';

function stateWith(framesOut: number): RankState {
  return { ops: [], blocked: false, framesOut, framesIn: 0, bytesIn: 0, omitted: 0 };
}

/** The request's snapshot once it has ended, or undefined while it is still open. */
function watch(promise: Promise<Snapshot>): { readonly result: Snapshot | undefined } {
  const box: { result: Snapshot | undefined } = { result: undefined };
  void promise.then((snapshot) => { box.result = snapshot; });
  return box;
}

/** Lets settled promises run their callbacks without moving the fake clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe('StateRequests', () => {
  let sent: number[];
  let requests: StateRequests;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    requests = new StateRequests((id) => sent.push(id));
  });
  afterEach(() => vi.useRealTimers());

  it('ends when every awaited rank has answered, without waiting for the deadline', async () => {
    const request = watch(requests.collect([0, 1]));
    expect(sent).toHaveLength(1);
    requests.answered(1, sent[0]!, stateWith(11));
    await flush();
    expect(request.result).toBeUndefined();
    requests.answered(0, sent[0]!, stateWith(10));
    await flush();
    expect([...request.result!.entries()]).toEqual([[1, stateWith(11)], [0, stateWith(10)]]);
  });

  it('stops waiting for a rank whose control connection closed, and leaves it out', async () => {
    const request = watch(requests.collect([0, 1, 2]));
    requests.answered(0, sent[0]!, stateWith(1));
    requests.disconnected(2);
    await flush();
    expect(request.result).toBeUndefined();
    requests.disconnected(1);
    await flush();
    expect([...request.result!.keys()]).toEqual([0]);
  });

  it('waits the full deadline for a connected rank that stays silent', async () => {
    const request = watch(requests.collect([0, 1]));
    requests.answered(0, sent[0]!, stateWith(1));
    await vi.advanceTimersByTimeAsync(STATE_REPORT_WAIT_MS - 1);
    expect(request.result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect([...request.result!.keys()]).toEqual([0]);
  });

  it('ends at once, without a request, when no rank is awaited', async () => {
    const request = watch(requests.collect([]));
    await flush();
    expect(request.result?.size).toBe(0);
    expect(sent).toEqual([]);
  });

  it('ignores answers to an ended request, from ranks not awaited, and repeated answers', async () => {
    const first = watch(requests.collect([0]));
    requests.answered(0, sent[0]!, stateWith(1));
    await flush();
    expect(first.result?.get(0)).toEqual(stateWith(1));

    const second = watch(requests.collect([0, 1]));
    expect(sent).toEqual([sent[0], sent[1]]);
    expect(sent[1]).not.toBe(sent[0]);
    requests.answered(0, sent[0]!, stateWith(2)); // late answer to the first request
    requests.answered(5, sent[1]!, stateWith(3)); // a rank this request does not wait for
    requests.answered(1, sent[1]!, stateWith(4));
    requests.answered(1, sent[1]!, stateWith(5));
    await flush();
    expect(second.result).toBeUndefined();
    expect(first.result?.get(0)).toEqual(stateWith(1));
    requests.answered(0, sent[1]!, stateWith(6));
    await flush();
    expect([...second.result!.entries()]).toEqual([[1, stateWith(4)], [0, stateWith(6)]]);
  });

  it('a disconnection ends every open request that waited only for that rank', async () => {
    const a = watch(requests.collect([3]));
    const b = watch(requests.collect([3, 4]));
    requests.disconnected(3);
    await flush();
    expect(a.result?.size).toBe(0);
    expect(b.result).toBeUndefined();
    requests.answered(4, sent[1]!, stateWith(7));
    await flush();
    expect([...b.result!.keys()]).toEqual([4]);
  });
});
