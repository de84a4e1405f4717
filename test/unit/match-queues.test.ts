// Unit tests of runtime/match/queues.ts's OrderedQueue: arrival order is kept through every way an
// element leaves (take, remove, drain), including drains that take every other element, which walk
// the list while they unlink from it.
import { describe, expect, it } from 'vitest';
import { OrderedQueue } from '../../runtime/match/queues.js';

const filled = (n: number) => {
  const q = new OrderedQueue<number>();
  for (let i = 0; i < n; i++) q.push(i);
  return q;
};

describe('OrderedQueue', () => {
  it('takes and finds the first element that matches, in arrival order', () => {
    const q = filled(6);
    expect(q.find((x) => x % 3 === 2)).toBe(2);
    expect(q.take((x) => x % 3 === 2)).toBe(2);
    expect(q.take((x) => x % 3 === 2)).toBe(5);
    expect(q.take((x) => x > 10)).toBeUndefined();
    expect([...q]).toEqual([0, 1, 3, 4]);
    expect(q.length).toBe(4);
  });

  it('removes any element: first, middle, last, and the only one', () => {
    const q = filled(5);
    expect(q.remove(0)).toBe(true);
    expect(q.remove(2)).toBe(true);
    expect(q.remove(4)).toBe(true);
    expect(q.remove(4)).toBe(false);
    expect([...q]).toEqual([1, 3]);
    q.push(9);
    expect([...q]).toEqual([1, 3, 9]);
    const one = filled(1);
    expect(one.remove(0)).toBe(true);
    expect([...one]).toEqual([]);
    one.push(7);
    expect([...one]).toEqual([7]);
    expect(one.length).toBe(1);
  });

  it('drains every match in order, leaving the rest in order, whatever their pattern', () => {
    for (const [n, accept] of [
      [10, (x: number) => x % 2 === 0], [10, (x: number) => x % 2 === 1], [7, () => true], [7, () => false],
      [9, (x: number) => x < 3 || x > 6], [9, (x: number) => x >= 3 && x <= 6],
    ] as const) {
      const q = filled(n);
      const all = Array.from({ length: n }, (_, i) => i);
      expect(q.drain(accept)).toEqual(all.filter(accept));
      expect([...q]).toEqual(all.filter((x) => !accept(x)));
      expect(q.length).toBe(all.filter((x) => !accept(x)).length);
      q.push(100);
      expect([...q].at(-1)).toBe(100);
    }
  });
});
