// Unit tests of runtime/futures/registry.ts (the task registry of tsmpi/futures) and
// runtime/futures/chunking.ts (chunk sizes): naming rules and their errors, registering the same
// function twice, the identities the ranks compare when an executor starts and the message that names
// what differs; multiprocessing's chunk size rule, the adaptive sizes, option checks.
import { describe, expect, it } from 'vitest';
import { ADAPTIVE_MAX_ITEMS, autoChunksize, checkChunksize, ChunkSizer, knownLength } from '../../runtime/futures/chunking.js';
import { compareIdentities, identityOf, registeredTask, snapshotTasks, task, type Identity } from '../../runtime/futures/registry.js';
import { expectTsmpiError } from '../helpers/errors.js';

describe('task()', () => {
  it('registers by explicit name or fn.name; the task runs its function when called here', () => {
    const add = task('unit-add', (a: number, b: number) => a + b);
    expect(add(2, 3)).toBe(5);
    expect(add.taskName).toBe('unit-add');
    expect(add.name).toBe('unit-add');
    function unitNamed(x: number) { return x * 2; }
    const named = task(unitNamed);
    expect(named.taskName).toBe('unitNamed');
    expect(named(4)).toBe(8);
    expect(registeredTask(unitNamed)).toEqual(expect.objectContaining({ name: 'unitNamed' }));
    expect(registeredTask(named)).toBe(registeredTask(unitNamed));
    expect(registeredTask(() => 1)).toBeUndefined();
    expect(registeredTask('unit-add')).toBeUndefined();
  });

  it('passes `this` and every argument through, and returns what the function returns (a promise too)', async () => {
    const t = task('unit-this', function (this: unknown, ...args: unknown[]) { return Promise.resolve([this, args]); });
    expect(await t.call('self', 1, 2)).toEqual(['self', [1, 2]]);
  });

  it('refuses what cannot be a task', () => {
    expectTsmpiError(() => task('', () => 1), 'TSMPI_ERR_TASK', /non-empty string/);
    expectTsmpiError(() => task(() => 1), 'TSMPI_ERR_TASK', /no name.*task\(name, fn\)/);
    expectTsmpiError(() => task('unit-nofn', 5 as unknown as () => void), 'TSMPI_ERR_TASK', /needs a function, got number/);
    expectTsmpiError(() => task(null as unknown as () => void), 'TSMPI_ERR_TASK', /needs a function, got null/);
  });

  it('registering the same function again returns its task; another function under the name is refused', () => {
    const fn = (x: number) => x;
    const first = task('unit-twice', fn);
    expect(task('unit-twice', fn)).toBe(first);
    expect(task('unit-twice', first)).toBe(first);
    expectTsmpiError(() => task('unit-twice', (x: number) => x), 'TSMPI_ERR_TASK', /'unit-twice' is already registered/);
  });
});

describe('identities and their comparison', () => {
  it('a snapshot lists the tasks in name order; the identity hashes each source text', () => {
    task('unit-b', (x: number) => x + 1);
    task('unit-a', (x: number) => x + 2);
    const table = snapshotTasks();
    expect([...table.names]).toEqual([...table.names].sort());
    expect(table.index.get(table.names[3]!)).toBe(3);
    const identity = identityOf(table, { '(initializer)': () => 0, '(none)': undefined });
    expect(identity.map(([name]) => name)).toEqual([...table.names, '(initializer)']);
    expect(identity.every(([, hash]) => /^[\w-]{22}$/.test(hash))).toBe(true);
    const a = identity.find(([n]) => n === 'unit-a')![1], b = identity.find(([n]) => n === 'unit-b')![1];
    expect(a).not.toBe(b);
    expect(identityOf(table)).toEqual(identity.slice(0, -1));
  });

  const same: Identity = [['f', 'h1'], ['g', 'h2']];

  it('equal identities: no message', () => {
    expect(compareIdentities([same, same, same])).toBeUndefined();
    expect(compareIdentities([[]])).toBeUndefined();
  });

  it('names the task and the ranks that lack it, or whose source text differs', () => {
    expect(compareIdentities([same, [...same, ['extra', 'x']], same]))
      .toMatch(/^the ranks registered different tasks: 'extra' is registered on rank 1 but not on ranks 0, 2\. Register every task/);
    expect(compareIdentities([[['f', 'h1']], [['f', 'other']], [['f', 'other']]]))
      .toMatch(/'f' has different source text on rank 0 and on ranks 1, 2\./);
    const many = Array.from({ length: 12 }, (_, r): Identity => (r === 5 ? [] : same));
    expect(compareIdentities(many)).toMatch(/'f' is registered on ranks 0, 1, 2, 3, 4, 6, 7, 8, … \(11 ranks\) but not on rank 5; 'g' is/);
    const contiguous = Array.from({ length: 8 }, (_, r): Identity => (r < 6 ? [['f', 'h']] : []));
    expect(compareIdentities(contiguous)).toMatch(/'f' is registered on ranks 0–5 but not on ranks 6, 7/);
  });

  it('at most five differences are spelled out', () => {
    const wide: Identity = Array.from({ length: 8 }, (_, i) => [`t${i}`, 'h']);
    expect(compareIdentities([wide, []])).toMatch(/'t4' is registered on rank 0 but not on rank 1 \(and 3 more\)\./);
  });
});

describe('chunk sizes', () => {
  it('knows the length of arrays, typed arrays, Sets and Maps only', () => {
    expect(knownLength([1, 2, 3])).toBe(3);
    expect(knownLength(new Float64Array(5))).toBe(5);
    expect(knownLength(new Set([1]))).toBe(1);
    expect(knownLength(new Map([[1, 2]]))).toBe(1);
    expect(knownLength('abc')).toBeUndefined();
    expect(knownLength((function* () { yield 1; })())).toBeUndefined();
    expect(knownLength(new DataView(new ArrayBuffer(4)))).toBeUndefined();
  });

  it("'auto' with a known length is multiprocessing's ceil(n / (4 × workers))", () => {
    // multiprocessing.Pool._map_async: chunksize, extra = divmod(len, 4 * processes); if extra: chunksize += 1
    for (const [n, w, expected] of [[3000, 2, 375], [20000, 2, 2500], [10, 2, 2], [7, 4, 1], [0, 3, 1], [1, 1, 1], [100, 3, 9]] as const) {
      expect(autoChunksize(n, w), `${n} items, ${w} workers`).toBe(expected);
    }
    expect(new ChunkSizer('auto', 3000, 2).size).toBe(375);
    expect(new ChunkSizer(17, 3000, 2).size).toBe(17);
  });

  it('a fixed size never changes; an adaptive one starts at 1, at most doubles per result, aims at ~10 ms of work', () => {
    const fixed = new ChunkSizer(5, undefined, 2);
    fixed.observe(5, 0);
    expect(fixed.size).toBe(5);
    const tiny = new ChunkSizer('auto', undefined, 2);
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      sizes.push(tiny.size);
      tiny.observe(tiny.size, 0); // too quick to measure
    }
    expect(sizes.slice(0, 6)).toEqual([1, 2, 4, 8, 16, 32]);
    expect(tiny.size).toBe(ADAPTIVE_MAX_ITEMS);
    const slow = new ChunkSizer('auto', undefined, 2);
    for (let i = 0; i < 10; i++) slow.observe(slow.size, slow.size * 0.05); // 50 ms per item
    expect(slow.size).toBe(1);
    const medium = new ChunkSizer('auto', undefined, 2);
    for (let i = 0; i < 20; i++) medium.observe(medium.size, medium.size * 0.0001); // 0.1 ms per item
    expect(medium.size).toBe(100);
  });

  it('checks chunksize', () => {
    expect(checkChunksize('auto', 'map')).toBe('auto');
    expect(checkChunksize(3, 'map')).toBe(3);
    for (const bad of [0, -1, 1.5, NaN, Infinity, '3', null]) {
      expectTsmpiError(() => checkChunksize(bad, 'map'), 'TSMPI_ERR_ARG', /^TSMPI_ERR_ARG: map: chunksize must be a positive integer or 'auto'/);
    }
  });
});
