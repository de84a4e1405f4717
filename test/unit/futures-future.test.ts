// Unit tests of runtime/futures/future.ts: a Future's states (pending, sent, settled, cancelled), that
// it never causes an unhandled rejection by itself, and asCompleted / wait over futures settled by
// hand (as the executor settles them), including mpi4py's wait and as_completed cases with futures
// already done in each way.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTsmpiError } from '../../runtime/errors.js';
import { asCompleted, cancelFuture, Future, markSent, newFuture, rejectFuture, resolveFuture, wait } from '../../runtime/futures/future.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
beforeEach(() => { unhandled.length = 0; process.on('unhandledRejection', onUnhandled); });
afterEach(() => { process.off('unhandledRejection', onUnhandled); });

/** A future whose cancel() succeeds while `queued` says so. */
function pending<T>(queued = { value: true }): Future<T> {
  return newFuture<T>(() => queued.value);
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Future', () => {
  it('fulfils and rejects once; done() and cancelled() follow', async () => {
    const f = pending<number>();
    expect([f.done(), f.cancelled()]).toEqual([false, false]);
    resolveFuture(f, 5);
    resolveFuture(f, 6);
    rejectFuture(f as Future<unknown>, new Error('late'));
    expect([f.done(), f.cancelled(), f.cancel()]).toEqual([true, false, false]);
    expect(await f).toBe(5);
    const g = pending<number>();
    rejectFuture(g as Future<unknown>, new RangeError('no'));
    await expect(Promise.resolve(g)).rejects.toThrow(RangeError);
    expect(g.done()).toBe(true);
  });

  it('cancel() works while the call is queued, not once sent; a cancelled future rejects with TSMPI_ERR_CANCELLED', async () => {
    const queued = { value: true };
    const f = pending<number>(queued);
    expect(f.cancel()).toBe(true);
    expect([f.cancelled(), f.done(), f.cancel()]).toEqual([true, true, true]);
    const e = await f.then(() => undefined, (x: unknown) => x);
    expect(isTsmpiError(e, 'TSMPI_ERR_CANCELLED')).toBe(true);
    const refused = pending<number>({ value: false });
    expect(refused.cancel()).toBe(false);
    const sent = pending<number>();
    markSent(sent as Future<unknown>);
    expect(sent.cancel()).toBe(false);
    resolveFuture(sent, 1);
    expect(await sent).toBe(1);
    const dropped = pending<number>();
    cancelFuture(dropped as Future<unknown>, new Error('dropped'));
    expect(dropped.cancelled()).toBe(true);
  });

  it('never causes an unhandled rejection by itself; a `then` of the user does', async () => {
    for (let i = 0; i < 5; i++) rejectFuture(pending() as Future<unknown>, new Error(`nobody awaits ${i}`));
    pending().cancel();
    await tick();
    await tick();
    expect(unhandled).toEqual([]);
    const f = pending();
    void f.then(() => 1);
    rejectFuture(f as Future<unknown>, new Error('surfaced by the user\'s then'));
    await tick();
    await tick();
    expect(unhandled.map((e) => (e as Error).message)).toEqual(['surfaced by the user\'s then']);
    unhandled.length = 0;
  });
});

/** mpi4py's ready-made futures: SUCCESSFUL, EXCEPTION and CANCELLED. */
function settled() {
  const successful = pending<number>();
  resolveFuture(successful, 42);
  const exception = pending<number>();
  rejectFuture(exception as Future<unknown>, new Error('OSError'));
  const cancelled = pending<number>();
  cancelled.cancel();
  return { successful, exception, cancelled };
}

describe('asCompleted', () => {
  it('yields the done futures first, in order, then each as it settles; each once', async () => {
    const { successful, exception, cancelled } = settled();
    const a = pending<number>(), b = pending<number>();
    const seen: Future<number>[] = [];
    const it = asCompleted([cancelled, a, exception, successful, b, a]);
    for (let i = 0; i < 3; i++) seen.push((await it.next()).value as Future<number>);
    expect(seen).toEqual([cancelled, exception, successful]);
    const next = it.next();
    resolveFuture(b, 2);
    rejectFuture(a as Future<unknown>, new Error('a failed'));
    expect((await next).value).toBe(b);
    expect((await it.next()).value).toBe(a);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('rejects with TSMPI_ERR_TIMEOUT when it must wait past the timeout, after yielding what is done', async () => {
    const { successful } = settled();
    const never = pending<number>();
    for (const timeout of [0, 5]) {
      const seen: unknown[] = [];
      let error: unknown;
      try {
        for await (const f of asCompleted([successful, never], { timeout })) seen.push(f);
      } catch (e) {
        error = e;
      }
      expect(seen).toEqual([successful]);
      expect(isTsmpiError(error, 'TSMPI_ERR_TIMEOUT')).toBe(true);
      expect((error as Error).message).toBe(`TSMPI_ERR_TIMEOUT: asCompleted: 1 of 2 futures not done within ${timeout} ms`);
    }
  });

  it('a break stops listening; arguments are checked at the call', async () => {
    const f = pending<number>();
    for await (const done of asCompleted([settled().successful, f])) {
      expect(done.done()).toBe(true);
      break;
    }
    resolveFuture(f, 1);
    expect(() => asCompleted([Promise.resolve(1) as unknown as Future<number>])).toThrow(/TSMPI_ERR_ARG: asCompleted takes Futures/);
    expect(() => asCompleted([], { timeout: -1 })).toThrow(/TSMPI_ERR_ARG: asCompleted: timeout must be/);
  });
});

describe('wait', () => {
  const sets = (r: { done: Set<unknown>; notDone: Set<unknown> }) => [r.done, r.notDone];

  it('ALL_COMPLETED (default), FIRST_COMPLETED, FIRST_EXCEPTION over futures done and not', async () => {
    const { successful, exception, cancelled } = settled();
    // test_first_completed_some_already_completed
    const p = pending<number>();
    expect(sets(await wait([cancelled, successful, p], { returnWhen: 'FIRST_COMPLETED' }))).toEqual([new Set([cancelled, successful]), new Set([p])]);
    // test_first_exception_one_already_failed
    expect(sets(await wait([exception, p], { returnWhen: 'FIRST_EXCEPTION' }))).toEqual([new Set([exception]), new Set([p])]);
    // FIRST_EXCEPTION ignores a cancellation, waits for the failure.
    const q = pending<number>(), r = pending<number>();
    const w = wait([successful, cancelled, q, r], { returnWhen: 'FIRST_EXCEPTION' });
    resolveFuture(q, 1);
    await tick();
    rejectFuture(r as Future<unknown>, new Error('r'));
    expect(sets(await w)).toEqual([new Set([successful, cancelled, q, r]), new Set()]);
    // FIRST_COMPLETED wakes at the first settlement.
    const s = pending<number>(), t = pending<number>();
    const w2 = wait([s, t], { returnWhen: 'FIRST_COMPLETED' });
    resolveFuture(t, 1);
    expect(sets(await w2)).toEqual([new Set([t]), new Set([s])]);
    // ALL_COMPLETED
    const w3 = wait([s, t, successful, exception]);
    cancelFuture(s as Future<unknown>, new Error('gone'));
    expect(sets(await w3)).toEqual([new Set([s, t, successful, exception]), new Set()]);
    expect(sets(await wait([]))).toEqual([new Set(), new Set()]);
  });

  it('a timeout resolves with what is done by then (test_timeout)', async () => {
    const { successful, exception, cancelled } = settled();
    const never = pending<number>();
    expect(sets(await wait([cancelled, exception, successful, never], { timeout: 5 }))).toEqual([new Set([cancelled, exception, successful]), new Set([never])]);
    expect(sets(await wait([never], { timeout: 0, returnWhen: 'FIRST_COMPLETED' }))).toEqual([new Set(), new Set([never])]);
  });

  it('checks its arguments at the call', () => {
    expect(() => wait([{} as Future<number>])).toThrow(/TSMPI_ERR_ARG: wait takes Futures/);
    expect(() => wait([], { returnWhen: 'ANY' as 'ALL_COMPLETED' })).toThrow(/TSMPI_ERR_ARG: wait: returnWhen must be/);
    expect(() => wait([], { timeout: NaN })).toThrow(/TSMPI_ERR_ARG: wait: timeout must be/);
  });
});
