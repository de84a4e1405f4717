// The sending half of the wire format: one frame as the list of chunks to hand to a socket
// (header first, then the payload views untouched), to be written under cork/uncork or writev
// as ws's sender does, so a large typed array is never copied just to be framed.
import { tsmpiError } from '../errors.js';
import { encodeHeader, kindCarriesPayload, type FrameHeader } from './header.js';

/**
 * `[header, ...payload]`. The payload byte total must equal `h.length` for kinds that carry a
 * payload and be zero otherwise (RTS announces `length` but sends nothing): a mismatch would
 * desynchronise the peer's parser, so it is caught here as a bug on this side.
 */
export function frameParts(h: FrameHeader, payload?: readonly Uint8Array[]): Uint8Array[] {
  const parts: Uint8Array[] = [encodeHeader(h)];
  let bytes = 0;
  if (payload !== undefined) {
    for (const part of payload) {
      bytes += part.byteLength;
      parts.push(part);
    }
  }
  const expected = kindCarriesPayload(h.kind) ? h.length : 0;
  if (bytes !== expected) {
    throw tsmpiError('TSMPI_ERR_INTERN', `frame of kind ${h.kind} has ${bytes} payload bytes, expected ${expected}`);
  }
  return parts;
}
