// The communication calls a recording names, numbered once for every rank and for tsmpirun: spans,
// aggregates and message sizes carry these numbers, the reports print the names. Point-to-point calls
// first, then every collective of wire/call-label.ts (which also labels their messages on the wire).
import { CALL_NAMES } from '../wire/call-label.js';

/** Point-to-point and probe calls of a communicator, as the program calls them. */
export const P2P_CALLS = [
  'send', 'ssend', 'isend', 'issend', 'recv', 'irecv', 'sendrecv',
  'Send', 'Ssend', 'Isend', 'Issend', 'Recv', 'Irecv', 'Sendrecv', 'Sendrecv_replace',
  'probe', 'iprobe',
] as const;

/** Every call a recording can name; index 0 is "no call" (a message sent outside any observed call). */
export const OBSERVED_CALLS: readonly string[] = ['(outside calls)', ...P2P_CALLS, ...CALL_NAMES.slice(1)];

const IDS = new Map<string, number>(OBSERVED_CALLS.map((name, id) => [name, id]));

/** The number of a call name (0 for a name this table does not know). */
export function callId(name: string): number {
  return IDS.get(name) ?? 0;
}

/** The name of a call number, or `call N` for a number from a newer version. */
export function callName(id: number): string {
  return OBSERVED_CALLS[id] ?? `call ${id}`;
}

/** Non-blocking calls: their span runs from the call to the request's completion, not to an await. */
const NON_BLOCKING = new Set(['isend', 'issend', 'irecv', 'Isend', 'Issend', 'Irecv']);

/** True for isend, Irecv and the other calls that return a Request. */
export function isNonBlocking(id: number): boolean {
  return NON_BLOCKING.has(callName(id));
}

/** True for the collective calls (and the communicator constructors built on them). */
export function isCollective(id: number): boolean {
  return id > P2P_CALLS.length && id < OBSERVED_CALLS.length;
}
