// Type-checked by test/unit/types.test.ts with `tsc --noEmit --strict`: the everyday request patterns
// of API.md must compile as written, with the value types a user expects.
import { COMM_WORLD as comm, Request, Status, SUM } from '../../runtime/index.js';

const left = (comm.rank - 1 + comm.size) % comm.size, right = (comm.rank + 1) % comm.size;
const a = new Float64Array(4), b = new Float64Array(4);

// Typed sends resolve to a Status, as receives do: one array of requests, one element type.
const statuses: Status[] = await Request.waitall([comm.Irecv(a, left, 0), comm.Isend(b, right, 0)]);
const sent: Status = await comm.Issend(b, right, 1);
const counts: number[] = statuses.map((s) => s.count + sent.count);

// A tuple of different requests keeps each one's type.
const [received, nothing, text] = await Request.waitall([comm.Irecv(a, left, 2), comm.isend({ x: 1 }, right, 2), comm.irecv<string>(left, 3)]);
const r: Status = received;
const n: void = nothing;
const t: string = text;

// Lists of requests built in a loop, and the any/some/test families.
const reqs: Request<Status>[] = [];
for (let i = 0; i < 3; i++) reqs.push(comm.Isend(b, right, 10 + i), comm.Irecv(a, left, 10 + i));
const all: Status[] = await Request.waitall(reqs);
const { index, value } = await Request.waitany(reqs);
const maybe: Status | undefined = value;
const some: { indices: number[]; values: Status[] } = await Request.waitsome(reqs);
const tested: { done: boolean; values?: Status[] } = Request.testall(reqs);
const one: { index: number; done: boolean; value?: Status } = Request.testany(reqs);
const got: Status = await reqs[0]!;
const polled: { done: boolean; value?: Status } = reqs[1]!.test();

// Collectives and the object family.
const total: number = await comm.allreduce(comm.rank, SUM);
const gathered: number[] | undefined = await comm.gather(comm.rank);
const echoed: { x: number } = await comm.sendrecv<{ x: number }>({ x: 1 }, right, 4, left, 4);

export const used = [counts, r, n, t, all, index, maybe, some, tested, one, got, polled, total, gathered, echoed];
