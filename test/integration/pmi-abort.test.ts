// Which ranks of a PMI job ask the launcher to abort when one rank fails. Real ranks (plain `node`
// processes importing tsmpi) run against the fake PMI server (test/helpers/fake-pmi-server.ts), which
// records every request and kills no one, so the test sees every abort that would have been sent.
//
// Hydra's server exits with the code of the last abort it reads in one round (MPICH 4.0.2,
// pmiserv_pmi_v1.c fn_abort), so the failing rank's code survives only if the ranks that merely lost it
// send none: under Hydra they exit 1 without an abort (the proxy kills the job anyway when their PMI
// connection closes unfinalized). Under srun every failing rank aborts: the abort is srun's surest end.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { FakePmiServer, type Flavor } from '../helpers/fake-pmi-server.js';
import { REPO, fixture } from '../helpers/job.js';

const PEER_LOSS = fixture('pmi/peer-loss.mjs');
const RANK_TIMEOUT_MS = 20_000;

interface RankExit { rank: number; code: number | null; signal: NodeJS.Signals | null; stderr: string }

const started: ChildProcess[] = [];
const servers: FakePmiServer[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const server of servers.splice(0)) await server.stop();
});

/** What the launcher of `flavor` puts in a task's environment for Hydra's -pmi-port mode or srun. */
function launcherEnv(flavor: Flavor, rank: number, size: number): NodeJS.ProcessEnv {
  return flavor === 'hydra'
    ? { MPI_LOCALRANKID: String(rank), MPI_LOCALNRANKS: String(size) }
    : { PMI_JOBID: '8.0', SLURM_STEP_ID: '0', SLURM_STEP_NUM_NODES: '1' };
}

/** Starts `size` ranks of the fixture against `server`; resolves when all have exited. */
async function runRanks(server: FakePmiServer, flavor: Flavor, size: number, args: string[]): Promise<RankExit[]> {
  const { PMI_FD: _fd, PMI_PORT: _port, MPI_LOCALRANKID: _id, PMI_JOBID: _job, SLURM_STEP_ID: _step, ...inherited } = process.env;
  return Promise.all(Array.from({ length: size }, (_, rank) => new Promise<RankExit>((resolve, reject) => {
    const child = spawn(process.execPath, [PEER_LOSS, ...args], {
      cwd: REPO,
      env: { ...inherited, ...launcherEnv(flavor, rank, size), PMI_PORT: `127.0.0.1:${server.port}`, PMI_ID: String(rank) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    started.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rank ${rank} still running after ${RANK_TIMEOUT_MS} ms; stderr:\n${stderr}`));
    }, RANK_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ rank, code, signal, stderr });
    });
  })));
}

/** The exit codes each rank sent in PMI-1 aborts, by rank (the connection's initack names the rank). */
function abortsByRank(server: FakePmiServer): Map<number, number[]> {
  const rankOfConn = new Map<number, number>();
  for (const r of server.requests) if (r.fields.get('cmd') === 'initack') rankOfConn.set(r.conn, Number(r.fields.get('pmiid')));
  const aborts = new Map<number, number[]>();
  for (const r of server.requests) {
    if (r.fields.get('cmd') !== 'abort') continue;
    const rank = rankOfConn.get(r.conn) ?? -1;
    aborts.set(rank, [...(aborts.get(rank) ?? []), Number(r.fields.get('exitcode'))]);
  }
  return aborts;
}

function describeRanks(exits: RankExit[], server: FakePmiServer): string {
  return exits.map((e) => `rank ${e.rank}: exit ${e.code ?? e.signal}\n${e.stderr}`).join('\n')
    + `\nPMI requests:\n${server.requests.map((r) => `  conn ${r.conn}: ${r.raw}`).join('\n')}`;
}

/** 3 ranks under a fake launcher of `flavor`; rank 1 exits with 3 after a barrier, the others lose it. */
async function failingJob(flavor: Flavor): Promise<{ exits: RankExit[]; aborts: Map<number, number[]>; why: string }> {
  const server = await new FakePmiServer({ flavor, size: 3 }).start();
  servers.push(server);
  const exits = await runRanks(server, flavor, 3, ['1', '3']);
  const why = describeRanks(exits, server);
  expect(server.violations, why).toEqual([]);
  expect(exits.map((e) => e.code), why).toEqual([1, 3, 1]);
  return { exits, aborts: abortsByRank(server), why };
}

describe('a failing rank of a PMI job', () => {
  it('under Hydra: only the failing rank aborts, with its code; the ranks that lost it exit 1 without an abort', async () => {
    const { exits, aborts, why } = await failingJob('hydra');
    for (const rank of [0, 2]) expect(exits[rank]!.stderr, why).toContain('TSMPI_ERR_PEER_LOST');
    expect([...aborts], why).toEqual([[1, [3]]]);
  });

  it('under srun: every failing rank aborts, the first with its code and the others with 1', async () => {
    const { aborts, why } = await failingJob('slurm');
    expect([...aborts].sort(([a], [b]) => a - b), why).toEqual([[0, [1]], [1, [3]], [2, [1]]]);
  });
});
