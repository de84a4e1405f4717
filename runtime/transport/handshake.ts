// Connection handshake of the data plane. The acceptor speaks first with a fresh random nonce; the
// connector answers with its rank and an HMAC of the nonce under the job secret. The secret itself
// never crosses the wire, and a replayed proof is useless against another nonce.
//
//   acceptor  → connector: MAGIC (8 bytes) | nonce (16 bytes)
//   connector → acceptor : MAGIC (8 bytes) | connector rank (u32 LE) | acceptor rank (u32 LE) | HMAC-SHA256 (32 bytes)
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const HANDSHAKE_MAGIC = Buffer.from('TSMPI\x00\x01\x00', 'latin1');
export const CHALLENGE_BYTES = HANDSHAKE_MAGIC.length + 16;
export const PROOF_BYTES = HANDSHAKE_MAGIC.length + 8 + 32;

export function makeChallenge(): { message: Buffer; nonce: Buffer } {
  const nonce = randomBytes(16);
  return { message: Buffer.concat([HANDSHAKE_MAGIC, nonce]), nonce };
}

function proofMac(secret: Uint8Array, nonce: Uint8Array, connector: number, acceptor: number): Buffer {
  const ranks = Buffer.allocUnsafe(8);
  ranks.writeUInt32LE(connector, 0);
  ranks.writeUInt32LE(acceptor, 4);
  return createHmac('sha256', secret).update(nonce).update(ranks).digest();
}

/** Returns the nonce of a challenge, or undefined when the bytes are not one. */
export function readChallenge(message: Uint8Array): Buffer | undefined {
  if (message.length !== CHALLENGE_BYTES) return undefined;
  const buf = Buffer.from(message.buffer, message.byteOffset, message.length);
  if (!buf.subarray(0, HANDSHAKE_MAGIC.length).equals(HANDSHAKE_MAGIC)) return undefined;
  return Buffer.from(buf.subarray(HANDSHAKE_MAGIC.length));
}

export function makeProof(secret: Uint8Array, nonce: Uint8Array, connector: number, acceptor: number): Buffer {
  const head = Buffer.allocUnsafe(HANDSHAKE_MAGIC.length + 8);
  HANDSHAKE_MAGIC.copy(head, 0);
  head.writeUInt32LE(connector, HANDSHAKE_MAGIC.length);
  head.writeUInt32LE(acceptor, HANDSHAKE_MAGIC.length + 4);
  return Buffer.concat([head, proofMac(secret, nonce, connector, acceptor)]);
}

/** Checks a proof; returns the connector's rank, or undefined when it does not prove the secret. */
export function verifyProof(
  secret: Uint8Array, nonce: Uint8Array, acceptor: number, size: number, message: Uint8Array,
): number | undefined {
  if (message.length !== PROOF_BYTES) return undefined;
  const buf = Buffer.from(message.buffer, message.byteOffset, message.length);
  if (!buf.subarray(0, HANDSHAKE_MAGIC.length).equals(HANDSHAKE_MAGIC)) return undefined;
  const connector = buf.readUInt32LE(HANDSHAKE_MAGIC.length);
  const claimedAcceptor = buf.readUInt32LE(HANDSHAKE_MAGIC.length + 4);
  if (claimedAcceptor !== acceptor || connector >= size) return undefined;
  const expected = proofMac(secret, nonce, connector, acceptor);
  const given = buf.subarray(HANDSHAKE_MAGIC.length + 8);
  return timingSafeEqual(expected, given) ? connector : undefined;
}
