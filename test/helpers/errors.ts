// Assertions on the TsmpiErrors that synchronous calls throw, for unit tests.
import { expect } from 'vitest';
import { isTsmpiError, type TsmpiErrorCode } from '../../runtime/errors.js';

/** `run` must throw a TsmpiError with `code` (and a message matching `message`); returns what it threw. */
export function expectTsmpiError(run: () => unknown, code: TsmpiErrorCode, message?: RegExp): unknown {
  let thrown: unknown;
  try {
    run();
  } catch (e) {
    thrown = e;
  }
  expect(isTsmpiError(thrown, code), `expected ${code}, got ${String(thrown)}`).toBe(true);
  if (message !== undefined) expect((thrown as Error).message).toMatch(message);
  return thrown;
}
