// Unit tests of runtime/comm/context-ids.ts: slots are reserved, settled and released as the context
// agreement expects, and a released slot remembers how far its communicator's collective tags went,
// so that a communicator agreed on it later starts above them (a late error marker of the old one then
// names a tag the new one never uses).
import { describe, expect, it } from 'vitest';
import { ContextIds, SLOTS } from '../../runtime/comm/context-ids.js';

describe('ContextIds', () => {
  it('offers the lowest free slot above the reserved ones, and never a slot reserved or taken', () => {
    const ids = new ContextIds();
    expect(ids.lowestAvailable(0)).toBe(2);
    expect(ids.reserve(2)).toBe(true);
    expect(ids.reserve(2)).toBe(false);
    expect(ids.lowestAvailable(0)).toBe(3);
    ids.settle(2, true);
    expect(ids.reserve(2)).toBe(false);
    expect(ids.lowestAvailable(0)).toBe(3);
    ids.release(2, 0);
    expect(ids.lowestAvailable(0)).toBe(2);
    expect(ids.reserve(0)).toBe(false);
    expect(ids.reserve(SLOTS)).toBe(false);
  });

  it('a settle without keeping frees the slot again', () => {
    const ids = new ContextIds();
    expect(ids.reserve(5)).toBe(true);
    ids.settle(5, false);
    expect(ids.reserve(5)).toBe(true);
  });

  it('a released slot starts its next communicator above the tags its last one used, never lower', () => {
    const ids = new ContextIds();
    expect(ids.firstFreshTag(4)).toBe(0);
    ids.reserve(4);
    ids.settle(4, true);
    ids.release(4, 17);
    expect(ids.firstFreshTag(4)).toBe(17);
    // The next communicator there started at 17 (the agreement took the members' highest mark) and is
    // freed after more calls; a release reporting fewer (a rank that joined later) does not lower it.
    ids.reserve(4);
    ids.settle(4, true);
    ids.release(4, 30);
    expect(ids.firstFreshTag(4)).toBe(30);
    ids.reserve(4);
    ids.settle(4, true);
    ids.release(4, 3);
    expect(ids.firstFreshTag(4)).toBe(30);
    expect(ids.firstFreshTag(5)).toBe(0);
  });

  it('the slots of COMM_WORLD and COMM_SELF are never released', () => {
    const ids = new ContextIds();
    ids.release(0, 9);
    ids.release(1, 9);
    expect(ids.reserve(0)).toBe(false);
    expect(ids.reserve(1)).toBe(false);
    expect(ids.firstFreshTag(0)).toBe(0);
  });
});
