// The arithmetic of comm.split(color, key) (API.md "Communicators and topologies"): given every
// rank's (color, key), as gathered from the whole communicator, who ends up in the caller's new
// communicator and in what order. Pure, so every rank derives the same plan from the same input.
//
// MPI_Comm_split semantics: ranks with the same colour form one new communicator; within it they
// are ordered by key, ties broken by old rank; colour UNDEFINED means "in none" and gives null.
// Colours are non-negative integers (or UNDEFINED); keys are any integers, negative included.

import { UNDEFINED } from '../constants.js';
import { tsmpiError, type TsmpiError } from '../errors.js';

export interface SplitEntry {
  color: number;
  key: number;
}

export interface SplitPlan {
  /** The caller's rank in its new communicator. */
  newRank: number;
  newSize: number;
  /** Old ranks of the new communicator's members, in new-rank order. */
  members: number[];
}

/**
 * What is wrong with one rank's split arguments, as the error split() fails with, or undefined.
 * split() checks before anything is sent, so a bad colour fails at the call on the rank that passed
 * it, and that rank relays the error to the others, whose call fails too (API.md "Errors").
 * TSMPI_ERR_ARG unless color is a non-negative safe integer or UNDEFINED and key a safe integer.
 */
export function splitArgsError(color: number, key: number): TsmpiError | undefined {
  const problem = splitArgsProblem(color, key);
  return problem === undefined ? undefined : tsmpiError('TSMPI_ERR_ARG', `split: ${problem}`);
}

/**
 * The new communicator of `myRank` given all ranks' entries (indexed by old rank), or null when its
 * colour is UNDEFINED. Every entry is checked, not only the caller's, so that all ranks reach the
 * same verdict on the same gathered input and none is left waiting on a rank that threw.
 * TSMPI_ERR_RANK for a myRank outside the entries; TSMPI_ERR_ARG for a bad colour or key.
 */
export function planSplit(entries: readonly SplitEntry[], myRank: number): SplitPlan | null {
  if (!Array.isArray(entries)) {
    throw tsmpiError('TSMPI_ERR_ARG', 'planSplit: entries must be an array indexed by rank');
  }
  if (!Number.isInteger(myRank) || myRank < 0 || myRank >= entries.length) {
    throw tsmpiError('TSMPI_ERR_RANK', `planSplit: rank ${String(myRank)} is not among ${entries.length} entries`);
  }
  // A plain loop, not forEach, so that a hole in a sparse array is reported rather than skipped.
  for (let rank = 0; rank < entries.length; rank++) {
    const entry: unknown = entries[rank];
    const problem =
      typeof entry === 'object' && entry !== null
        ? splitArgsProblem((entry as SplitEntry).color, (entry as SplitEntry).key)
        : `expected { color, key }, got ${String(entry)}`;
    if (problem !== undefined) throw tsmpiError('TSMPI_ERR_ARG', `split arguments of rank ${rank}: ${problem}`);
  }

  const myColor = entries[myRank]!.color;
  if (myColor === UNDEFINED) return null;

  const members: number[] = [];
  for (let rank = 0; rank < entries.length; rank++) {
    if (entries[rank]!.color === myColor) members.push(rank);
  }
  // Comparisons rather than subtraction: keys span all safe integers, whose differences need not.
  members.sort((a, b) => {
    const keyA = entries[a]!.key;
    const keyB = entries[b]!.key;
    return keyA < keyB ? -1 : keyA > keyB ? 1 : a - b;
  });
  return { newRank: members.indexOf(myRank), newSize: members.length, members };
}

function splitArgsProblem(color: unknown, key: unknown): string | undefined {
  if (color !== UNDEFINED && !(typeof color === 'number' && Number.isSafeInteger(color) && color >= 0)) {
    return `color must be a non-negative integer or UNDEFINED, got ${String(color)}`;
  }
  if (typeof key !== 'number' || !Number.isSafeInteger(key)) {
    return `key must be an integer, got ${String(key)}`;
  }
  return undefined;
}
