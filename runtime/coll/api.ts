// The collective entry points the Comm calls, one per collective of API.md, both families: lowercase
// move objects and return the result, capitalized fill typed receive buffers in place. Each takes the
// communicator's collective channel first and the call's tag last, so a Comm method is one line:
//
//   allreduce<T>(obj: T, op: OpLike = SUM) { return coll.allreduce<T>(this.#coll, obj, op, this.#nextCollTag()); }
//
// Every call first validates its arguments, before it sends anything. A root out of range is the
// same mistake on every rank and fails at once. Anything else only some ranks may see (a bad list at
// the root, a buffer of the wrong size on one rank, an op the local data does not support) fails this
// rank and is relayed as an error marker to every other rank (relay.ts), so the call fails on every
// rank: the rooted collectives, where some ranks would otherwise only send, make every rank wait for
// word that depends on every other rank (completion_binomial.ts).
import { IN_PLACE, type InPlace } from '../constants.js';
import { tsmpiError, type TsmpiError } from '../errors.js';
import { dtypeName, dtypeOf, type TypedArray } from '../wire/dtype.js';
import { allgatherBruck, bruckPeers } from './allgather_bruck.js';
import { allgatherRecursiveDoubling, recursiveDoublingPeers } from './allgather_recursive_doubling.js';
import { allgatherRing, ringPeers } from './allgather_ring.js';
import { allreduceRabenseifner } from './allreduce_rabenseifner.js';
import { allreduceRecursiveDoubling } from './allreduce_recursive_doubling.js';
import { allreduceRing } from './allreduce_ring.js';
import { allOtherRanks, alltoallPairwise, type PersonalizedBlocks } from './alltoall_pairwise.js';
import { alltoallScattered } from './alltoall_scattered.js';
import { barrierDissemination } from './barrier_dissemination.js';
import { bcastBinomial, binomialChildren } from './bcast_binomial.js';
import { bcastScatterAllgather, scatterAllgatherPeers } from './bcast_scatter_allgather.js';
import { ObjectBlocks, TypedBlocks, VectorBlocks, type BlockStore } from './blocks.js';
import type { CollChannel } from './channel.js';
import { readyUp, verdictDown, type Shape } from './completion_binomial.js';
import { gatherBinomial, gatherBinomialPeers } from './gather_binomial.js';
import { gatherLinear, gatherLinearPeers } from './gather_linear.js';
import { checkObjectOperand, describe, Op, opUnit, toOp, typedKernel, type OpLike } from './ops.js';
import { encodedPayload, objectReduction, typedPayload, typedReduction } from './payload.js';
import { reduceBinomial, reduceBinomialPeers } from './reduce_binomial.js';
import { reduceRabenseifner, reduceRabenseifnerPeers } from './reduce_rabenseifner.js';
import { reduceScatterViaAllreduce } from './reduce_scatter_allreduce.js';
import { reduceScatterPairwise } from './reduce_scatter_pairwise.js';
import { joinParts, recvExact, recvObject, relayFailures, sendObject } from './relay.js';
import { scanPeers, scanRecursiveDoubling } from './scan_recursive_doubling.js';
import { scatterBinomial } from './scatter_binomial.js';
import { rootToAllPeers, scatterLinear } from './scatter_linear.js';
import { selectAlgorithm, type AlgorithmOf, type SelectionInput } from './select.js';
import { Fold } from './topology.js';

/**
 * A v-variant's buffer with per-rank element counts and displacements (default: packed in rank order).
 * @inline
 */
export type VectorSpec =
  | readonly [TypedArray, ArrayLike<number>]
  | readonly [TypedArray, ArrayLike<number>, ArrayLike<number> | undefined];

// ---------------------------------------------------------------------------------------------
// Barrier, broadcast

export function barrier(ch: CollChannel, tag: number): Promise<void> {
  selectAlgorithm('barrier', { size: ch.size, bytes: 0 });
  return barrierDissemination(ch, tag);
}
export const Barrier = barrier;

export function bcast<T>(ch: CollChannel, obj: T, root: number, tag: number): Promise<T> {
  // Not async, as allreduce: a broadcast of a small object is all latency.
  checkRoot(ch, root, 'bcast');
  selectAlgorithm('bcast', { size: ch.size, bytes: 0, objects: true });
  if (ch.size === 1) return Promise.resolve(obj);
  const payload = encodedPayload(ch, tag);
  let encoded: readonly Uint8Array[] | undefined;
  if (ch.rank === root) {
    try {
      encoded = ch.encode(obj);
    } catch (err) {
      return relayFailures(ch, tag, binomialChildren(ch.rank, ch.size, root), err as TsmpiError, () => Promise.reject(err));
    }
  }
  return readyUp(ch, root, tag, 'bcast', undefined, undefined)
    .then(() => bcastBinomial(ch, root, tag, payload, encoded))
    .then((received) => (ch.rank === root ? obj : (ch.decode(joinParts(received)) as T)));
}

export function Bcast(ch: CollChannel, buf: TypedArray, root: number, tag: number): Promise<void> {
  // Not async, as bcast: a small Bcast is all latency.
  checkRoot(ch, root, 'Bcast');
  const algorithm = selectAlgorithm('bcast', { size: ch.size, bytes: byteLengthOf(buf) });
  const peers = () =>
    algorithm === 'binomial' ? binomialChildren(ch.rank, ch.size, root) : scatterAllgatherPeers(ch.rank, ch.size, root);
  let shape: Shape;
  try {
    shape = shapeOf(typed(buf, 'Bcast: buf'));
  } catch (err) {
    return relayFailures(ch, tag, peers(), err as TsmpiError, () => Promise.reject(err));
  }
  return readyUp(ch, root, tag, 'Bcast', shape, ch.rank === root ? () => shape : undefined).then(() =>
    algorithm === 'binomial'
      ? bcastBinomial(ch, root, tag, typedPayload(ch, tag, buf, buf), buf).then(nothing)
      : bcastScatterAllgather(ch, buf, root, tag));
}

// ---------------------------------------------------------------------------------------------
// Scatter, gather, allgather, alltoall

export async function scatter<T>(ch: CollChannel, objs: readonly T[] | undefined, root: number, tag: number): Promise<T> {
  checkRoot(ch, root, 'scatter');
  const algorithm = selectAlgorithm('scatter', { size: ch.size, bytes: 0, objects: true });
  const store = new ObjectBlocks(ch, tag);
  if (ch.rank === root) {
    await checked(ch, tag, () => scatterPeers(ch, root, algorithm), () => {
      if (!Array.isArray(objs)) throw tsmpiError('TSMPI_ERR_TYPE', `scatter: the root needs a list, got ${describe(objs)}`);
      if (objs.length !== ch.size) {
        throw tsmpiError('TSMPI_ERR_COUNT', `scatter: the root's list has ${objs.length} items for ${ch.size} ranks`);
      }
      objs.forEach((item, rank) => rank !== root && store.put(rank, item));
    });
  }
  await readyUp(ch, root, tag, 'scatter', undefined, undefined);
  await runScatter(ch, root, tag, algorithm, store);
  return ch.rank === root ? objs![root]! : (store.take(ch.rank) as T);
}

export async function Scatter(
  ch: CollChannel,
  sendbuf: TypedArray | null | undefined,
  recvbuf: TypedArray | InPlace,
  root: number,
  tag: number,
): Promise<void> {
  checkRoot(ch, root, 'Scatter');
  const algorithm = selectAlgorithm('scatter', { size: ch.size, bytes: 0 });
  const { size, rank } = ch;
  const { store, shape } = await checked(ch, tag, () => scatterPeers(ch, root, algorithm), () => {
    if (rank !== root) {
      const recv = typed(notInPlace(recvbuf, 'Scatter: recvbuf'), 'Scatter: recvbuf');
      return { store: TypedBlocks.window(ch, tag, recv, 'scatter'), shape: shapeOf(recv) };
    }
    const send = typed(sendbuf, 'Scatter: sendbuf at the root');
    const blockLength = recvbuf === IN_PLACE ? send.length / size : typed(recvbuf, 'Scatter: recvbuf').length;
    if (recvbuf !== IN_PLACE) sameKind(send, recvbuf, 'Scatter');
    if (!Number.isInteger(blockLength) || send.length !== size * blockLength) {
      throw tsmpiError('TSMPI_ERR_COUNT', `Scatter: sendbuf has ${send.length} elements, not ${size} blocks of ${blockLength}`);
    }
    return { store: TypedBlocks.full(ch, tag, send, blockLength), shape: { dtype: dtypeOf(send), length: blockLength } };
  });
  await readyUp(ch, root, tag, 'Scatter', shape, rank === root ? () => shape : undefined);
  await runScatter(ch, root, tag, algorithm, store);
  store.finish();
  if (rank === root && recvbuf !== IN_PLACE) recvbuf.set(sendbuf!.subarray(root * recvbuf.length, (root + 1) * recvbuf.length) as never);
}

export async function gather<T>(ch: CollChannel, obj: T, root: number, tag: number): Promise<T[] | undefined> {
  checkRoot(ch, root, 'gather');
  const algorithm = selectAlgorithm('gather', { size: ch.size, bytes: 0, objects: true });
  const store = new ObjectBlocks(ch, tag);
  if (ch.rank !== root) await checked(ch, tag, () => gatherPeers(ch, root, algorithm), () => store.put(ch.rank, obj));
  await runGather(ch, root, tag, algorithm, store);
  const gathered = ch.rank === root
    ? await relayFailures(ch, tag, [], undefined, async () => Array.from({ length: ch.size }, (_, rank) => (rank === root ? obj : (store.take(rank) as T))))
    : undefined;
  await verdictDown(ch, root, tag);
  return gathered;
}

export async function Gather(
  ch: CollChannel,
  sendbuf: TypedArray | InPlace,
  recvbuf: TypedArray | null | undefined,
  root: number,
  tag: number,
): Promise<void> {
  checkRoot(ch, root, 'Gather');
  const algorithm = selectAlgorithm('gather', { size: ch.size, bytes: 0 });
  const { size, rank } = ch;
  const store = await checked(ch, tag, () => gatherPeers(ch, root, algorithm), () => {
    if (rank !== root) return TypedBlocks.window(ch, tag, typed(notInPlace(sendbuf, 'Gather: sendbuf'), 'Gather: sendbuf'), 'gather');
    const recv = typed(recvbuf, 'Gather: recvbuf at the root');
    const blockLength = sendbuf === IN_PLACE ? recv.length / size : typed(sendbuf, 'Gather: sendbuf').length;
    if (sendbuf !== IN_PLACE) sameKind(sendbuf, recv, 'Gather');
    if (!Number.isInteger(blockLength) || recv.length !== size * blockLength) {
      throw tsmpiError('TSMPI_ERR_COUNT', `Gather: recvbuf has ${recv.length} elements, not ${size} blocks of ${blockLength}`);
    }
    if (sendbuf !== IN_PLACE) recv.set(sendbuf as never, root * blockLength);
    return TypedBlocks.full(ch, tag, recv, blockLength);
  });
  await runGather(ch, root, tag, algorithm, store);
  await verdictDown(ch, root, tag);
}

export async function allgather<T>(ch: CollChannel, obj: T, tag: number): Promise<T[]> {
  const algorithm = selectAlgorithm('allgather', { size: ch.size, bytes: 0, objects: true });
  const store = new ObjectBlocks(ch, tag);
  await checked(ch, tag, () => allgatherPeers(ch, algorithm), () => store.put(ch.rank, obj));
  await runAllgather(ch, tag, algorithm, store);
  return Array.from({ length: ch.size }, (_, rank) => (rank === ch.rank ? obj : (store.take(rank) as T)));
}

export async function Allgather(ch: CollChannel, sendbuf: TypedArray | InPlace, recvbuf: TypedArray, tag: number): Promise<void> {
  const algorithm = selectAlgorithm('allgather', { size: ch.size, bytes: byteLengthOf(recvbuf) });
  const { size, rank } = ch;
  const store = await checked(ch, tag, () => allgatherPeers(ch, algorithm), () => {
    const recv = typed(recvbuf, 'Allgather: recvbuf');
    const blockLength = sendbuf === IN_PLACE ? recv.length / size : typed(sendbuf, 'Allgather: sendbuf').length;
    if (sendbuf !== IN_PLACE) sameKind(sendbuf, recv, 'Allgather');
    if (!Number.isInteger(blockLength) || recv.length !== size * blockLength) {
      throw tsmpiError('TSMPI_ERR_COUNT', `Allgather: recvbuf has ${recv.length} elements, not ${size} blocks of ${blockLength}`);
    }
    if (sendbuf !== IN_PLACE) recv.set(sendbuf as never, rank * blockLength);
    return TypedBlocks.full(ch, tag, recv, blockLength);
  });
  await runAllgather(ch, tag, algorithm, store);
}

export async function alltoall<T>(ch: CollChannel, objs: readonly T[], tag: number): Promise<T[]> {
  const algorithm = selectAlgorithm('alltoall', { size: ch.size, bytes: 0, objects: true });
  const { size, rank } = ch;
  await checked(ch, tag, () => allOtherRanks(rank, size), () => {
    if (!Array.isArray(objs)) throw tsmpiError('TSMPI_ERR_TYPE', `alltoall: needs a list, got ${describe(objs)}`);
    if (objs.length !== size) throw tsmpiError('TSMPI_ERR_COUNT', `alltoall: the list has ${objs.length} items for ${size} ranks`);
  });
  const received = new Array<T>(size);
  await runAlltoall(ch, tag, algorithm, {
    sendTo: (dest) => sendObject(ch, objs[dest], dest, tag),
    recvFrom: async (source) => void (received[source] = (await recvObject(ch, source, tag)) as T),
    keepOwn: () => void (received[rank] = objs[rank]!),
  });
  return received;
}

export async function Alltoall(ch: CollChannel, sendbuf: TypedArray | InPlace, recvbuf: TypedArray, tag: number): Promise<void> {
  const { size, rank } = ch;
  const blockBytes = byteLengthOf(recvbuf) / size;
  const algorithm = selectAlgorithm('alltoall', { size, bytes: blockBytes });
  const input = await checked(ch, tag, () => allOtherRanks(rank, size), () => {
    const recv = typed(recvbuf, 'Alltoall: recvbuf');
    if (recv.length % size !== 0) {
      throw tsmpiError('TSMPI_ERR_COUNT', `Alltoall: recvbuf has ${recv.length} elements, not ${size} equal blocks`);
    }
    if (sendbuf === IN_PLACE) return recv.slice(); // blocks are received before they are sent: send from a copy
    sameKind(typed(sendbuf, 'Alltoall: sendbuf'), recv, 'Alltoall');
    if (sendbuf.length !== recv.length) {
      throw tsmpiError('TSMPI_ERR_COUNT', `Alltoall: sendbuf has ${sendbuf.length} elements, recvbuf ${recv.length}`);
    }
    return sendbuf;
  });
  const blockLength = recvbuf.length / size;
  const block = (buf: TypedArray, rank: number) => buf.subarray(rank * blockLength, (rank + 1) * blockLength);
  await runAlltoall(ch, tag, algorithm, {
    sendTo: (dest) => ch.send(block(input, dest), dest, tag),
    recvFrom: (source) => recvExact(ch, block(recvbuf, source), source, tag),
    keepOwn: () => block(recvbuf, rank).set(block(input, rank) as never),
  });
}

// ---------------------------------------------------------------------------------------------
// Reductions

export async function reduce<T>(ch: CollChannel, obj: T, op: OpLike, root: number, tag: number): Promise<T | undefined> {
  checkRoot(ch, root, 'reduce');
  selectAlgorithm('reduce', { size: ch.size, bytes: 0, objects: true });
  // Always in rank order for objects, whatever the op claims: SUM concatenates strings, and a user
  // op's commute flag is a promise about values the runtime cannot check.
  const commute = false;
  const resolved = await checked(ch, tag, () => reduceBinomialPeers(ch.rank, ch.size, root, commute), () => objectOp(op, obj));
  const result = (await reduceBinomial(ch, root, tag, objectReduction(ch, tag, resolved), obj as unknown, commute)) as T | undefined;
  await verdictDown(ch, root, tag);
  return result;
}

export async function Reduce(
  ch: CollChannel,
  sendbuf: TypedArray | InPlace,
  recvbuf: TypedArray | null | undefined,
  op: OpLike,
  root: number,
  tag: number,
): Promise<void> {
  checkRoot(ch, root, 'Reduce');
  const { rank, size } = ch;
  const atRoot = rank === root;
  const inPlace = sendbuf === IN_PLACE;
  const known = opOrUndefined(op);
  const commute = known?.commute ?? false;
  const algorithm = selectAlgorithm('reduce', selectionForOp(size, inPlace ? recvbuf : sendbuf, known));
  const peers = () =>
    algorithm === 'binomial' ? reduceBinomialPeers(rank, size, root, commute) : reduceRabenseifnerPeers(rank, size, root);
  const { resolved, input } = await checked(ch, tag, peers, () => {
    if (inPlace && !atRoot) throw tsmpiError('TSMPI_ERR_ARG', 'Reduce: IN_PLACE is the root\'s sendbuf only');
    const input = typed(inPlace ? recvbuf : sendbuf, inPlace ? 'Reduce: recvbuf' : 'Reduce: sendbuf');
    if (atRoot && !inPlace) sameShape(input, typed(recvbuf, 'Reduce: recvbuf at the root'), 'Reduce');
    return { resolved: typedOp(op, input, 'Reduce'), input };
  });
  const output = atRoot ? (recvbuf as TypedArray) : undefined;
  if (algorithm === 'rabenseifner') {
    const kernel = typedKernel(resolved, dtypeOf(input));
    await reduceRabenseifner(ch, root, tag, kernel, opUnit(resolved), inPlace ? undefined : input, output);
  } else {
    const result = await reduceBinomial(ch, root, tag, typedReduction(ch, tag, resolved, input), input, commute, output);
    if (atRoot && result !== output) output!.set(result as never);
  }
  await verdictDown(ch, root, tag);
}

export function allreduce<T>(ch: CollChannel, obj: T, op: OpLike, tag: number): Promise<T> {
  // Not async: an allreduce of a few numbers is all latency, and each await would add a reaction.
  selectAlgorithm('allreduce', { size: ch.size, bytes: 0, objects: true });
  let resolved: ReturnType<typeof objectOp>;
  try {
    resolved = objectOp(op, obj);
  } catch (err) {
    return relayFailures(ch, tag, new Fold(ch.rank, ch.size).peers(), err as TsmpiError, () => Promise.reject(err));
  }
  return allreduceRecursiveDoubling(ch, tag, objectReduction(ch, tag, resolved), obj as unknown) as Promise<T>;
}

export function Allreduce(ch: CollChannel, sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike, tag: number): Promise<void> {
  // Not async, as allreduce: a small Allreduce is all latency.
  const known = opOrUndefined(op);
  const algorithm = selectAlgorithm('allreduce', selectionForOp(ch.size, recvbuf, known));
  let resolved: Op, input: TypedArray;
  try {
    const recv = typed(recvbuf, 'Allreduce: recvbuf');
    input = sendbuf === IN_PLACE ? recv : sameShape(typed(sendbuf, 'Allreduce: sendbuf'), recv, 'Allreduce');
    resolved = typedOp(op, recv, 'Allreduce');
  } catch (err) {
    return relayFailures(ch, tag, allreducePeers(ch, algorithm), err as TsmpiError, () => Promise.reject(err));
  }
  return runTypedAllreduce(ch, tag, algorithm, resolved, input === recvbuf ? undefined : input, recvbuf);
}

export async function scan<T>(ch: CollChannel, obj: T, op: OpLike, tag: number): Promise<T> {
  return (await objectScan(ch, obj, op, tag, false)) as T;
}

export async function exscan<T>(ch: CollChannel, obj: T, op: OpLike, tag: number): Promise<T | undefined> {
  return (await objectScan(ch, obj, op, tag, true)) as T | undefined;
}

export function Scan(ch: CollChannel, sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike, tag: number): Promise<void> {
  return typedScan(ch, sendbuf, recvbuf, op, tag, false);
}

/** Rank 0's recvbuf is left as it was (MPI leaves it undefined; mpi4py's Exscan does not touch it). */
export function Exscan(ch: CollChannel, sendbuf: TypedArray | InPlace, recvbuf: TypedArray, op: OpLike, tag: number): Promise<void> {
  return typedScan(ch, sendbuf, recvbuf, op, tag, true);
}

/**
 * Every rank gets its block (recvbuf.length elements) of the reduction of everyone's sendbuf of
 * size × recvbuf.length elements. With IN_PLACE the input is recvbuf (size blocks) and the result
 * lands in its first block.
 */
export async function Reduce_scatter_block(
  ch: CollChannel,
  sendbuf: TypedArray | InPlace,
  recvbuf: TypedArray,
  op: OpLike,
  tag: number,
): Promise<void> {
  const { size } = ch;
  const blockLength = isTyped(recvbuf) ? (sendbuf === IN_PLACE ? recvbuf.length / size : recvbuf.length) : 0;
  const counts = Array.from({ length: size }, () => blockLength);
  return reduceScatter(ch, 'reduce_scatter_block', sendbuf, recvbuf, counts, op, tag);
}

/**
 * Segment i of the reduction (recvcounts[i] elements, in rank order) goes to rank i's recvbuf. Without
 * recvcounts, each rank's count is its recvbuf.length, agreed by an allgather (as mpi4py does); with
 * IN_PLACE (input in recvbuf, result in its first recvcounts[rank] elements) recvcounts is required.
 */
export async function Reduce_scatter(
  ch: CollChannel,
  sendbuf: TypedArray | InPlace,
  recvbuf: TypedArray,
  recvcounts: ArrayLike<number> | undefined,
  op: OpLike,
  tag: number,
): Promise<void> {
  let counts = recvcounts;
  if (counts === undefined && sendbuf !== IN_PLACE) {
    // Same tag: the allgather's messages between any two ranks all precede the reduce-scatter's.
    // A rank without a typed recvbuf still takes part (count −1), so every rank then fails the check.
    const all = new Float64Array(ch.size);
    await Allgather(ch, Float64Array.of(isTyped(recvbuf) ? recvbuf.length : -1), all, tag);
    counts = Array.from(all);
  }
  return reduceScatter(ch, 'reduce_scatter', sendbuf, recvbuf, counts, op, tag);
}

// ---------------------------------------------------------------------------------------------
// v-variants

export async function Scatterv(
  ch: CollChannel,
  sendspec: VectorSpec | null | undefined,
  recvbuf: TypedArray | InPlace,
  root: number,
  tag: number,
): Promise<void> {
  checkRoot(ch, root, 'Scatterv');
  selectAlgorithm('scatterv', { size: ch.size, bytes: 0 });
  const { rank, size } = ch;
  const { store, own, shape, expected } = await checked(ch, tag, () => rootToAllPeers(rank, size, root), () => {
    if (rank !== root) {
      const recv = typed(notInPlace(recvbuf, 'Scatterv: recvbuf'), 'Scatterv: recvbuf');
      return { store: TypedBlocks.window(ch, tag, recv, 'scatter') as BlockStore, own: undefined, shape: shapeOf(recv), expected: undefined };
    }
    const spec = vectorSpec(sendspec, size, 'Scatterv: sendbuf');
    const own = spec.buf.subarray(spec.displs[root]!, spec.displs[root]! + spec.counts[root]!);
    if (recvbuf !== IN_PLACE) sameShape(own, typed(recvbuf, 'Scatterv: recvbuf'), 'Scatterv (the root\'s own block)');
    const dtype = dtypeOf(spec.buf);
    return {
      store: new VectorBlocks(ch, tag, spec.buf, spec.counts, spec.displs) as BlockStore, own, shape: shapeOf(own),
      expected: (r: number): Shape => ({ dtype, length: spec.counts[r]! }),
    };
  });
  await readyUp(ch, root, tag, 'Scatterv', shape, expected, true);
  await scatterLinear(ch, root, tag, store);
  if (own && recvbuf !== IN_PLACE) recvbuf.set(own as never);
}

export async function Gatherv(
  ch: CollChannel,
  sendbuf: TypedArray | InPlace,
  recvspec: VectorSpec | null | undefined,
  root: number,
  tag: number,
): Promise<void> {
  checkRoot(ch, root, 'Gatherv');
  selectAlgorithm('gatherv', { size: ch.size, bytes: 0 });
  const { rank, size } = ch;
  const store = await checked(ch, tag, () => gatherLinearPeers(rank, root), (): BlockStore => {
    if (rank !== root) return TypedBlocks.window(ch, tag, typed(notInPlace(sendbuf, 'Gatherv: sendbuf'), 'Gatherv: sendbuf'), 'gather');
    const spec = vectorSpec(recvspec, size, 'Gatherv: recvbuf');
    const own = spec.buf.subarray(spec.displs[root]!, spec.displs[root]! + spec.counts[root]!);
    if (sendbuf !== IN_PLACE) own.set(sameShape(typed(sendbuf, 'Gatherv: sendbuf'), own, 'Gatherv (the root\'s own block)') as never);
    return new VectorBlocks(ch, tag, spec.buf, spec.counts, spec.displs);
  });
  await gatherLinear(ch, root, tag, store);
  await verdictDown(ch, root, tag);
}

export async function Allgatherv(ch: CollChannel, sendbuf: TypedArray | InPlace, recvspec: VectorSpec, tag: number): Promise<void> {
  selectAlgorithm('allgatherv', { size: ch.size, bytes: 0 });
  const { rank, size } = ch;
  const store = await checked(ch, tag, () => ringPeers(rank, size), () => {
    const spec = vectorSpec(recvspec, size, 'Allgatherv: recvbuf');
    const own = spec.buf.subarray(spec.displs[rank]!, spec.displs[rank]! + spec.counts[rank]!);
    if (sendbuf !== IN_PLACE) own.set(sameShape(typed(sendbuf, 'Allgatherv: sendbuf'), own, 'Allgatherv (own block)') as never);
    return new VectorBlocks(ch, tag, spec.buf, spec.counts, spec.displs);
  });
  await allgatherRing(ch, tag, store);
}

/** With IN_PLACE as the send spec, what is sent is taken from the receive spec (copied first). */
export async function Alltoallv(ch: CollChannel, sendspec: VectorSpec | InPlace, recvspec: VectorSpec, tag: number): Promise<void> {
  selectAlgorithm('alltoallv', { size: ch.size, bytes: 0 });
  const { rank, size } = ch;
  const { send, recv } = await checked(ch, tag, () => allOtherRanks(rank, size), () => {
    const recv = vectorSpec(recvspec, size, 'Alltoallv: recvbuf');
    const send = sendspec === IN_PLACE ? { ...recv, buf: recv.buf.slice() } : vectorSpec(sendspec, size, 'Alltoallv: sendbuf');
    sameKind(send.buf, recv.buf, 'Alltoallv');
    if (send.counts[rank] !== recv.counts[rank]) {
      throw tsmpiError('TSMPI_ERR_COUNT', `Alltoallv: sends itself ${send.counts[rank]} elements but expects ${recv.counts[rank]}`);
    }
    return { send, recv };
  });
  const block = (spec: ParsedVector, r: number) => spec.buf.subarray(spec.displs[r]!, spec.displs[r]! + spec.counts[r]!);
  await alltoallPairwise(ch, tag, {
    sendTo: (dest) => ch.send(block(send, dest), dest, tag),
    recvFrom: (source) => recvExact(ch, block(recv, source), source, tag),
    keepOwn: () => block(recv, rank).set(block(send, rank) as never),
  });
}

// ---------------------------------------------------------------------------------------------
// Algorithm dispatch: which function runs a chosen algorithm, and whom it sends to (for relays)

function scatterPeers(ch: CollChannel, root: number, algorithm: AlgorithmOf<'scatter'>): number[] {
  return algorithm === 'binomial' ? binomialChildren(ch.rank, ch.size, root) : rootToAllPeers(ch.rank, ch.size, root);
}

function runScatter(ch: CollChannel, root: number, tag: number, algorithm: AlgorithmOf<'scatter'>, store: BlockStore): Promise<void> {
  return algorithm === 'binomial' ? scatterBinomial(ch, root, tag, store) : scatterLinear(ch, root, tag, store);
}

function gatherPeers(ch: CollChannel, root: number, algorithm: AlgorithmOf<'gather'>): number[] {
  return algorithm === 'binomial' ? gatherBinomialPeers(ch.rank, ch.size, root) : gatherLinearPeers(ch.rank, root);
}

function runGather(ch: CollChannel, root: number, tag: number, algorithm: AlgorithmOf<'gather'>, store: BlockStore): Promise<void> {
  return algorithm === 'binomial' ? gatherBinomial(ch, root, tag, store) : gatherLinear(ch, root, tag, store);
}

function allgatherPeers(ch: CollChannel, algorithm: AlgorithmOf<'allgather'>): number[] {
  switch (algorithm) {
    case 'recursive_doubling':
      return recursiveDoublingPeers(ch.rank, ch.size);
    case 'bruck':
      return bruckPeers(ch.rank, ch.size);
    case 'ring':
      return ringPeers(ch.rank, ch.size);
  }
}

function runAllgather(ch: CollChannel, tag: number, algorithm: AlgorithmOf<'allgather'>, store: BlockStore): Promise<void> {
  switch (algorithm) {
    case 'recursive_doubling':
      return allgatherRecursiveDoubling(ch, tag, store);
    case 'bruck':
      return allgatherBruck(ch, tag, store);
    case 'ring':
      return allgatherRing(ch, tag, store);
  }
}

function runAlltoall(ch: CollChannel, tag: number, algorithm: AlgorithmOf<'alltoall'>, blocks: PersonalizedBlocks): Promise<void> {
  return algorithm === 'pairwise' ? alltoallPairwise(ch, tag, blocks) : alltoallScattered(ch, tag, blocks);
}

function allreducePeers(ch: CollChannel, algorithm: AlgorithmOf<'allreduce'>): number[] {
  return algorithm === 'ring' ? ringPeers(ch.rank, ch.size) : new Fold(ch.rank, ch.size).peers();
}

/** Typed allreduce of `sendbuf` (undefined: IN_PLACE) into `recvbuf` with an already chosen algorithm. */
function runTypedAllreduce(
  ch: CollChannel,
  tag: number,
  algorithm: AlgorithmOf<'allreduce'>,
  op: Op,
  sendbuf: TypedArray | undefined,
  recvbuf: TypedArray,
): Promise<void> {
  if (algorithm === 'recursive_doubling') {
    return allreduceRecursiveDoubling(ch, tag, typedReduction(ch, tag, op, recvbuf), sendbuf ?? recvbuf, recvbuf).then(nothing);
  }
  const run = algorithm === 'ring' ? allreduceRing : allreduceRabenseifner;
  return run(ch, tag, typedKernel(op, dtypeOf(recvbuf)), opUnit(op), sendbuf, recvbuf);
}

function nothing(): void {}

async function objectScan(ch: CollChannel, obj: unknown, op: OpLike, tag: number, exclusive: boolean): Promise<unknown> {
  selectAlgorithm(exclusive ? 'exscan' : 'scan', { size: ch.size, bytes: 0, objects: true });
  const resolved = await checked(ch, tag, () => scanPeers(ch.rank, ch.size), () => objectOp(op, obj));
  const result = await scanRecursiveDoubling(ch, tag, objectReduction(ch, tag, resolved), obj, exclusive);
  // The last rank's result depends on every rank: its word says the scan succeeded everywhere.
  await verdictDown(ch, ch.size - 1, tag);
  return result;
}

async function typedScan(
  ch: CollChannel,
  sendbuf: TypedArray | InPlace,
  recvbuf: TypedArray,
  op: OpLike,
  tag: number,
  exclusive: boolean,
): Promise<void> {
  const name = exclusive ? 'Exscan' : 'Scan';
  selectAlgorithm(exclusive ? 'exscan' : 'scan', { size: ch.size, bytes: byteLengthOf(recvbuf) });
  const { resolved, input } = await checked(ch, tag, () => scanPeers(ch.rank, ch.size), () => {
    const recv = typed(recvbuf, `${name}: recvbuf`);
    const input = sendbuf === IN_PLACE ? recv : sameShape(typed(sendbuf, `${name}: sendbuf`), recv, name);
    return { resolved: typedOp(op, recv, name), input };
  });
  const result = await scanRecursiveDoubling(ch, tag, typedReduction(ch, tag, resolved, recvbuf), input, exclusive, recvbuf);
  if (result !== undefined && result !== recvbuf) recvbuf.set(result as never);
  await verdictDown(ch, ch.size - 1, tag);
}

/** Reduce_scatter and Reduce_scatter_block, once the counts are known. */
async function reduceScatter(
  ch: CollChannel,
  coll: 'reduce_scatter' | 'reduce_scatter_block',
  sendbuf: TypedArray | InPlace,
  recvbuf: TypedArray,
  recvcounts: ArrayLike<number> | undefined,
  op: OpLike,
  tag: number,
): Promise<void> {
  const { rank, size } = ch;
  const name = coll === 'reduce_scatter' ? 'Reduce_scatter' : 'Reduce_scatter_block';
  const known = opOrUndefined(op);
  const input = sendbuf === IN_PLACE ? recvbuf : sendbuf;
  const algorithm = selectAlgorithm(coll, selectionForOp(size, input, known));
  // The allreduce-based algorithm sends what the allreduce for the whole input would.
  const allreduceAlgorithm = selectAlgorithm('allreduce', selectionForOp(size, input, known));
  const peers = () => (algorithm === 'pairwise' ? allOtherRanks(rank, size) : allreducePeers(ch, allreduceAlgorithm));
  const { resolved, counts, displs } = await checked(ch, tag, peers, () => {
    const recv = typed(recvbuf, `${name}: recvbuf`);
    const data = sendbuf === IN_PLACE ? recv : typed(sendbuf, `${name}: sendbuf`);
    sameKind(data, recv, name);
    if (recvcounts === undefined) throw tsmpiError('TSMPI_ERR_COUNT', `${name}: IN_PLACE needs recvcounts`);
    const counts = countList(recvcounts, size, `${name}: recvcounts`);
    const displs = packedDispls(counts);
    const total = displs[size - 1]! + counts[size - 1]!;
    if (data.length !== total) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${name}: the input has ${data.length} elements, the counts add up to ${total}`);
    }
    if (recv.length < counts[rank]!) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${name}: recvbuf has ${recv.length} elements, this rank's count is ${counts[rank]}`);
    }
    const resolved = typedOp(op, recv, name);
    if (opUnit(resolved) === 2 && counts.some((c) => c % 2 !== 0)) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${name}: ${resolved.name} needs even counts ([value, index] pairs)`);
    }
    return { resolved, counts, displs };
  });
  const data = input as TypedArray;
  if (algorithm === 'pairwise') {
    await reduceScatterPairwise(ch, tag, typedKernel(resolved, dtypeOf(data)), data, recvbuf, counts, displs);
    return;
  }
  const allreduceInto = (from: TypedArray, into: TypedArray) => runTypedAllreduce(ch, tag, allreduceAlgorithm, resolved, from, into);
  await reduceScatterViaAllreduce(ch, allreduceInto, data, recvbuf, counts, displs);
}

// ---------------------------------------------------------------------------------------------
// Argument checks

/**
 * Runs a call's argument checks. If one fails, this rank relays the error to `peers()` — the ranks
 * the chosen algorithm would have sent to, which would otherwise wait for it — and rejects with it.
 */
async function checked<T>(ch: CollChannel, tag: number, peers: () => Iterable<number>, checks: () => T): Promise<T> {
  let value: T;
  try {
    value = checks();
  } catch (err) {
    return relayFailures(ch, tag, peers(), err as TsmpiError, () => Promise.reject(err));
  }
  return value;
}

function checkRoot(ch: CollChannel, root: number, name: string): void {
  if (!Number.isInteger(root) || root < 0 || root >= ch.size) {
    throw tsmpiError('TSMPI_ERR_ROOT', `${name}: root ${String(root)} is not a rank of this communicator (size ${ch.size})`);
  }
}

function isTyped(value: unknown): value is TypedArray {
  return dtypeOf(value) > 0;
}

function typed(value: unknown, what: string): TypedArray {
  if (value === IN_PLACE) throw tsmpiError('TSMPI_ERR_ARG', `${what} cannot be IN_PLACE`);
  if (!isTyped(value)) throw tsmpiError('TSMPI_ERR_TYPE', `${what} must be a typed array, got ${describeArg(value)}`);
  return value;
}

function describeArg(value: unknown): string {
  return value === IN_PLACE ? 'IN_PLACE' : value === undefined ? 'undefined' : describe(value);
}

function notInPlace<T>(value: T | InPlace, what: string): T {
  if (value === IN_PLACE) throw tsmpiError('TSMPI_ERR_ARG', `${what}: IN_PLACE is only allowed at the root`);
  return value;
}

function shapeOf(buf: TypedArray): Shape {
  return { dtype: dtypeOf(buf), length: buf.length };
}

function byteLengthOf(value: unknown): number {
  return isTyped(value) ? value.byteLength : 0;
}

function sameKind(a: TypedArray, b: TypedArray, name: string): void {
  if (dtypeOf(a) !== dtypeOf(b)) {
    throw tsmpiError('TSMPI_ERR_TYPE', `${name}: send elements are ${dtypeName(dtypeOf(a))}, receive elements ${dtypeName(dtypeOf(b))}`);
  }
}

/** Same element kind and same length; returns `a`. */
function sameShape(a: TypedArray, b: TypedArray, name: string): TypedArray {
  sameKind(a, b, name);
  if (a.length !== b.length) throw tsmpiError('TSMPI_ERR_COUNT', `${name}: send has ${a.length} elements, receive ${b.length}`);
  return a;
}

function opOrUndefined(op: unknown): Op | undefined {
  try {
    return toOp(op);
  } catch {
    return undefined;
  }
}

/** The op, checked against this rank's object operand. */
function objectOp(op: unknown, value: unknown): Op {
  const resolved = toOp(op);
  checkObjectOperand(resolved, value);
  return resolved;
}

/** The op, checked against the element kind (and, for MAXLOC/MINLOC, the pair layout) of `buf`. */
function typedOp(op: unknown, buf: TypedArray, name: string): Op {
  const resolved = toOp(op);
  typedKernel(resolved, dtypeOf(buf));
  if (opUnit(resolved) === 2 && buf.length % 2 !== 0) {
    throw tsmpiError('TSMPI_ERR_COUNT', `${name}: ${resolved.name} needs [value, index] pairs, got ${buf.length} elements`);
  }
  return resolved;
}

function selectionForOp(size: number, buf: unknown, op: Op | undefined): SelectionInput {
  const unit = op ? opUnit(op) : 1;
  return {
    size,
    bytes: byteLengthOf(buf),
    items: isTyped(buf) ? Math.floor(buf.length / unit) : 0,
    commute: op?.builtin !== undefined && op.commute,
    userOp: op?.userFn !== undefined,
  };
}

interface ParsedVector {
  buf: TypedArray;
  counts: number[];
  displs: number[];
}

function vectorSpec(spec: unknown, size: number, what: string): ParsedVector {
  if (!Array.isArray(spec) || spec.length < 2 || spec.length > 3) {
    throw tsmpiError('TSMPI_ERR_TYPE', `${what} must be [buf, counts, displs?], got ${describeArg(spec)}`);
  }
  const buf = typed(spec[0], what);
  const counts = countList(spec[1], size, `${what} counts`);
  const displs = spec[2] === undefined ? packedDispls(counts) : countList(spec[2], size, `${what} displs`);
  for (let r = 0; r < size; r++) {
    if (displs[r]! + counts[r]! > buf.length) {
      throw tsmpiError('TSMPI_ERR_COUNT', `${what}: block ${r} (${counts[r]} at ${displs[r]}) ends past the buffer's ${buf.length} elements`);
    }
  }
  return { buf, counts, displs };
}

function countList(value: unknown, size: number, what: string): number[] {
  const list = value !== null && typeof value === 'object' && 'length' in value ? Array.from(value as ArrayLike<unknown>) : undefined;
  if (!list || list.length !== size) {
    throw tsmpiError('TSMPI_ERR_COUNT', `${what} must list ${size} counts, got ${describeArg(value)}`);
  }
  for (const n of list) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw tsmpiError('TSMPI_ERR_COUNT', `${what}: ${String(n)} is not a count`);
  }
  return list as number[];
}

function packedDispls(counts: readonly number[]): number[] {
  let at = 0;
  return counts.map((n) => ((at += n), at - n));
}
