// Which collective call a message on a collective context belongs to. Every frame that carries a
// collective's data (EAGER and RTS on a collective context) names its call in the header: `aux` is the
// call's code below, `aux2` its root + 1 (0: the call has no root). A receive posted by a collective
// expects its own call's label, so ranks that called different collectives (or the same one with
// different roots) as their n-th collective on a communicator find out at the first message they
// exchange, instead of pairing bcast with reduce and returning wrong values. Labels cost nothing on the
// normal path: two header words that were zero before.

/** Every collective call, both families, and the communicator constructors built on collectives. */
export const CALL_NAMES = [
  '', // 0: not a collective (point-to-point messages)
  'barrier', 'bcast', 'scatter', 'gather', 'allgather', 'alltoall', 'reduce', 'allreduce', 'scan', 'exscan',
  'Barrier', 'Bcast', 'Scatter', 'Gather', 'Allgather', 'Alltoall', 'Reduce', 'Allreduce', 'Scan', 'Exscan',
  'Reduce_scatter_block', 'Reduce_scatter', 'Scatterv', 'Gatherv', 'Allgatherv', 'Alltoallv',
  'dup', 'split', 'createCart', 'sub',
] as const;

export type CallName = Exclude<(typeof CALL_NAMES)[number], ''>;

const CODES = new Map<string, number>(CALL_NAMES.map((name, code) => [name, code]));

/** A call's label as it travels in the header: `op` (aux) and `root + 1` (aux2). */
export interface CallLabel {
  readonly op: number;
  readonly rootPlusOne: number;
}

export function callLabel(name: CallName, root: number): CallLabel {
  return { op: CODES.get(name)!, rootPlusOne: root >= 0 ? root + 1 : 0 };
}

/** "bcast(root=2)", "allreduce", or "unknown call 99" for a code this version does not know. */
export function describeCall(op: number, rootPlusOne: number): string {
  const name = CALL_NAMES[op];
  if (name === undefined || name === '') return `unknown call ${op}`;
  return rootPlusOne > 0 ? `${name}(root=${rootPlusOne - 1})` : name;
}
