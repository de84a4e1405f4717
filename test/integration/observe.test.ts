// tsmpirun --profile, --trace FILE, --comm-matrix FILE.svg on real jobs (runtime/observe/,
// launcher/observe.ts): the trace passes the binding rules of Perfetto's and DevTools' importers
// (test/helpers/trace-check.ts) and a real parser's reading (Chrome DevTools' trace engine from npm);
// the bytes of the trace, the matrix and the profile agree with each other and with what the program
// sent; there are as many arrows as messages; the profile names the rank a job waits for; the event
// cap leaves a note; a failed job still gets its outputs. No timing is asserted.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNothingLeft, disposeAllJobs, fixture, linesOf, runJob } from '../helpers/job.js';
import { checkTraceFile, type TraceCheck } from '../helpers/trace-check.js';

afterAll(disposeAllJobs);

const TRAFFIC = fixture('observe/traffic.ts');
const STRAGGLER = fixture('observe/straggler.ts');
const FAILS = fixture('observe/fails.ts');
const FAILED_CALLS = fixture('observe/failed-calls.ts');

let out: string;
beforeAll(() => { out = mkdtempSync(join(tmpdir(), 'tsmpi-observe-test-')); });
afterAll(() => rmSync(out, { recursive: true, force: true }));

function describeRun(r: { code: number | null; stdout: string; stderr: string }): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

interface CsvRow { from: number; to: number; bytes: number; messages: number; kind: 'user' | 'collective' }

function readCsv(path: string): CsvRow[] {
  const [head, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  expect(head).toBe('from,to,bytes,messages,kind');
  return rows.map((line) => {
    const [from, to, bytes, messages, kind] = line.split(',');
    return { from: Number(from), to: Number(to), bytes: Number(bytes), messages: Number(messages), kind: kind as CsvRow['kind'] };
  });
}

interface ProfileJson {
  perRank: { rank: number }[];
  calls: { call: string; count: number }[];
  sizes: { call: string; messages: number; bytes: number }[];
  straggler: { rank: number; line: string };
  notes: string[];
}

function profileOf(dir: string): ProfileJson {
  const file = readdirSync(dir).find((f) => f.endsWith('.tsmpi-profile.json'));
  expect(file, `no profile report in ${dir}`).toBeDefined();
  return JSON.parse(readFileSync(join(dir, file!), 'utf8')) as ProfileJson;
}

/** pid → rank, as trace.ts numbers them. */
const rankOfPid = (pid: number): number => pid - 1;

/** Bytes of the send child slices of the trace, per from → to and kind (collective: tag on a collective context). */
function traceBytes(check: TraceCheck): Map<string, number> {
  const sums = new Map<string, number>();
  for (const s of check.slices) {
    const e = s.event;
    if (e.cat !== 'msg' || !e.name?.startsWith('send → ')) continue;
    const kind = s.parent && isCollectiveName(s.parent.event.name!) ? 'collective' : 'user';
    const key = `${rankOfPid(e.pid!)},${e.args!.dest as number},${kind}`;
    sums.set(key, (sums.get(key) ?? 0) + (e.args!.bytes as number));
  }
  return sums;
}

const P2P = new Set(['send', 'ssend', 'isend', 'issend', 'recv', 'irecv', 'sendrecv', 'Send', 'Ssend', 'Isend', 'Issend', 'Recv', 'Irecv', 'Sendrecv', 'Sendrecv_replace', 'probe', 'iprobe']);
const isCollectiveName = (name: string): boolean => !P2P.has(name);

async function observedJob(name: string, np: number, script: string, env: Record<string, string> = {}, extra: string[] = []) {
  const dir = mkdtempSync(join(out, `${name}-`));
  const trace = join(dir, 'trace.json.gz'), matrix = join(dir, 'matrix.svg');
  const r = await runJob({
    np, script, env, cwd: dir, timeoutMs: 90_000,
    launcherArgs: ['--profile', '--trace', trace, '--comm-matrix', matrix, '--timeout', '60', ...extra],
  });
  await assertNothingLeft(r, { graceMs: 2000 });
  return { r, dir, trace, matrix, csv: join(dir, 'matrix.csv') };
}

describe('the outputs of a job agree with what it sent', () => {
  it.each([
    ['3 ranks, default eager limit', 3, {}],
    ['4 ranks, rendezvous above 4 KiB', 4, { TSMPI_EAGER_LIMIT: '4096' }],
  ] as const)('%s', async (name, np, env) => {
    const { r, dir, trace, matrix, csv } = await observedJob(name.replace(/\W+/g, '-'), np, TRAFFIC, env);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr).toContain(`tsmpi: trace ${trace}`);
    expect(readFileSync(matrix, 'utf8')).toMatch(/^<svg [^>]*>/);

    const check = checkTraceFile(trace);
    expect(check.problems, check.problems.slice(0, 20).join('\n')).toEqual([]);
    for (let rank = 0; rank < np; rank++) expect(check.processNames.get(rank + 1)).toBe(`rank ${rank}`);
    // The Isend/Irecv to every peer overlap: more than one lane somewhere.
    expect([...check.threadNames.values()].some((n) => /lane 1$/.test(n))).toBe(true);

    // Every arrow goes from a send to rank T on rank F to a delivery from F on rank T.
    for (const a of check.arrows) {
      const from = rankOfPid(a.from.event.pid!), to = rankOfPid(a.to.event.pid!);
      expect(a.from.event.name).toBe(`send → ${to}`);
      expect(a.to.event.name).toBe(`recv ← ${from}`);
      expect(a.to.event.args!.bytes).toBe(a.from.event.args!.bytes);
    }

    // Arrows = messages: the matrix counts every message sent, the profile every message by call.
    const rows = readCsv(csv);
    expect(rows).toHaveLength(2 * np * np);
    const messages = rows.reduce((n, row) => n + row.messages, 0);
    expect(check.arrows.length).toBe(messages);
    const profile = profileOf(dir);
    expect(profile.sizes.reduce((n, s) => n + s.messages, 0)).toBe(messages);
    expect(profile.sizes.reduce((n, s) => n + s.bytes, 0)).toBe(rows.reduce((n, row) => n + row.bytes, 0));

    // Bytes per pair and kind: the trace's send slices against the matrix.
    const fromTrace = traceBytes(check);
    for (const row of rows) expect(fromTrace.get(`${row.from},${row.to},${row.kind}`) ?? 0, `${row.from} → ${row.to} ${row.kind}`).toBe(row.bytes);

    // The program's own typed messages, plus its objects (tag 4, sized by the trace), are the user traffic.
    const sent = linesOf(r.stdout).filter((l) => l.startsWith('SENT ')).map((l) => JSON.parse(l.slice(5)) as { rank: number; typedBytes: number[] });
    expect(sent).toHaveLength(np);
    const objectBytes = new Map<string, number>();
    for (const s of check.slices) {
      if (s.event.name?.startsWith('send → ') && s.event.args!.tag === 4) {
        const key = `${rankOfPid(s.event.pid!)},${s.event.args!.dest as number}`;
        objectBytes.set(key, (objectBytes.get(key) ?? 0) + (s.event.args!.bytes as number));
      }
    }
    expect(objectBytes.size).toBe(np);
    for (const { rank, typedBytes } of sent) {
      for (let to = 0; to < np; to++) {
        const row = rows.find((x) => x.from === rank && x.to === to && x.kind === 'user')!;
        expect(row.bytes, `${rank} → ${to}`).toBe(typedBytes[to]! + (objectBytes.get(`${rank},${to}`) ?? 0));
      }
    }

    // The profile counts every call: one Isend and one Irecv per pair, and the Irecv before the Ssend.
    const count = (call: string) => profile.calls.find((c) => c.call === call)?.count;
    expect(count('Isend')).toBe(np * np);
    expect(count('Irecv')).toBe(np * np + np);
    expect(count('Ssend')).toBe(np);
    expect(count('allreduce')).toBe(np);
  }, 120_000);

  it('DevTools\' trace engine (npm @paulirish/trace_engine) reads the same arrows, bound to the same slices', async () => {
    const { r, trace } = await observedJob('devtools', 3, TRAFFIC);
    expect(r.code, describeRun(r)).toBe(0);
    const check = checkTraceFile(trace);
    expect(check.problems).toEqual([]);
    const { gunzipSync } = await import('node:zlib');
    const events = (JSON.parse(gunzipSync(readFileSync(trace)).toString('utf8')) as { traceEvents: unknown[] }).traceEvents;
    // The engine runs in browsers; in Node it needs DOMRect (its README says so).
    const g = globalThis as Record<string, unknown>;
    g.DOMRect ??= class { constructor(public x = 0, public y = 0, public width = 0, public height = 0) {} };
    const TraceModel = await import('@paulirish/trace_engine');
    const model = TraceModel.TraceModel.Model.createWithAllHandlers();
    await model.parse(events as never);
    const parsed = model.parsedTrace() as unknown as { data: { Flows: { flows: { name: string; pid: number; ts: number }[][] } } };
    const flows = parsed.data.Flows.flows;
    expect(flows.length).toBe(check.arrows.length);
    const ours = new Set(check.arrows.map((a) => `${a.from.event.pid},${a.from.event.ts},${a.to.event.pid},${a.to.event.ts}`));
    for (const flow of flows) {
      expect(flow).toHaveLength(2);
      expect(flow[0]!.name).toMatch(/^send → /);
      expect(flow[1]!.name).toMatch(/^recv ← /);
      // DevTools keeps µs; ours are the same numbers as written.
      expect(ours.has(`${flow[0]!.pid},${flow[0]!.ts},${flow[1]!.pid},${flow[1]!.ts}`)).toBe(true);
    }
  }, 120_000);
});

describe('the profile names the straggler', () => {
  it.each([2, 0])('rank %i computes longer before every collective', async (slow) => {
    const dir = mkdtempSync(join(out, `straggler-${slow}-`));
    const r = await runJob({ np: 4, script: STRAGGLER, args: [String(slow)], cwd: dir, timeoutMs: 90_000, launcherArgs: ['--profile'] });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`likely straggler: rank ${slow} — `));
    expect(r.stderr).toContain('full report: ');
    const profile = profileOf(dir);
    expect(profile.straggler.rank).toBe(slow);
    expect(profile.calls.find((c) => c.call === 'allreduce')?.count).toBe(4 * 6);
  }, 120_000);
});

describe('limits and failures', () => {
  it('a rank that reaches its event cap says so, and its totals stay exact', async () => {
    const { r, dir, trace } = await observedJob('cap', 3, TRAFFIC, { TSMPI_OBSERVE_EVENTS: '25' });
    expect(r.code, describeRun(r)).toBe(0);
    const check = checkTraceFile(trace);
    expect(check.problems).toEqual([]);
    const notes = check.otherData.notes as string[];
    for (let rank = 0; rank < 3; rank++) expect(notes.some((n) => n.startsWith(`rank ${rank} reached its event cap of 25`))).toBe(true);
    expect(check.events.filter((e) => e.ph === 'i' && /event cap/.test(e.name!))).toHaveLength(3);
    const profile = profileOf(dir);
    expect(profile.calls.find((c) => c.call === 'Isend')?.count).toBe(9);
  }, 120_000);

  it('a call that fails is marked failed in the trace, blocking or not, and the others are not', async () => {
    const { r, trace } = await observedJob('failed-calls', 2, FAILED_CALLS);
    expect(r.code, describeRun(r)).toBe(0);
    expect(linesOf(r.stdout).sort()).toEqual(['CAUGHT Irecv TSMPI_ERR_TRUNCATE', 'CAUGHT Recv TSMPI_ERR_TRUNCATE']);
    const check = checkTraceFile(trace);
    expect(check.problems).toEqual([]);
    const receives = check.slices.filter((s) => s.event.pid === 2 && (s.event.name === 'Recv' || s.event.name === 'Irecv'));
    expect(receives.map((s) => [s.event.name, s.event.args!.tag, s.event.args!.status ?? 'ok'])).toEqual([
      ['Recv', 1, 'failed'], ['Irecv', 2, 'failed'], ['Recv', 3, 'ok'], ['Irecv', 4, 'ok'],
    ]);
  }, 120_000);

  it('a failed job still writes what was recorded, and says that it failed', async () => {
    const { r, dir, trace, csv } = await observedJob('fails', 3, FAILS);
    expect(r.code, describeRun(r)).toBe(1);
    const check = checkTraceFile(trace);
    expect(check.problems).toEqual([]);
    expect((check.otherData.notes as string[]).some((n) => /the job failed \(exit status 1\)/.test(n))).toBe(true);
    // The failed rank sent its recording from its exit: its Sendrecv is in the trace.
    expect(check.slices.some((s) => s.event.pid === 2 && s.event.name === 'Sendrecv')).toBe(true);
    expect(readCsv(csv).length).toBeGreaterThan(0);
    expect(profileOf(dir).notes.some((n) => /the job failed/.test(n))).toBe(true);
  }, 120_000);
});
