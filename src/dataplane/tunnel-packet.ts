import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The wire format of ts-overlay's encrypted tunnel: one UDP datagram per VXLAN datagram,
 * sealed with AES-256-GCM.
 *
 *   0      version (1)
 *   1..3   zero
 *   4..7   key id (u32): which cluster key the sender used
 *   8..15  sender session (u64): ms timestamp of the sender's start << 16 | 16 random bits
 *   16..23 counter (u64): per session, from 1, never repeated
 *   24..   ciphertext of the VXLAN datagram, then the 16-byte GCM tag
 *
 * The header is authenticated (GCM's additional data). Keys are per direction and per sender
 * session: HKDF-SHA256 over the cluster key, salted with the session, with the two VTEPs in
 * order as info. A restarted sender has a new session and so a new key, so its counter may
 * start again at 1 without a (key, nonce) pair ever repeating; the nonce is the counter.
 */
export const TUNNEL_VERSION = 1;
export const HEADER_BYTES = 24;
export const TAG_BYTES = 16;
/** Bytes the tunnel adds to a VXLAN datagram (header + tag); the outer IP/UDP replace VXLAN's own. */
export const TUNNEL_OVERHEAD = HEADER_BYTES + TAG_BYTES;

export interface SealedHeader {
  readonly keyId: number;
  readonly session: bigint;
  readonly counter: bigint;
}

/** A fresh session id: later starts compare greater, so a receiver can refuse an old session. */
export function newSession(nowMs = Date.now()): bigint {
  return (BigInt(nowMs) << 16n) | BigInt(randomBytes(2).readUInt16BE(0));
}

/** The AES-256 key for datagrams from `src` to `dst` in one sender session, under one cluster key. */
export function directionKey(clusterKey: Buffer, session: bigint, src: string, dst: string): Buffer {
  const salt = Buffer.alloc(8);
  salt.writeBigUInt64BE(session);
  return Buffer.from(hkdfSync('sha256', clusterKey, salt, `ts-overlay tunnel v${TUNNEL_VERSION} ${src}>${dst}`, 32));
}

function nonceOf(counter: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

export function seal(key: Buffer, header: SealedHeader, plaintext: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt8(TUNNEL_VERSION, 0);
  head.writeUInt32BE(header.keyId, 4);
  head.writeBigUInt64BE(header.session, 8);
  head.writeBigUInt64BE(header.counter, 16);
  const cipher = createCipheriv('aes-256-gcm', key, nonceOf(header.counter));
  cipher.setAAD(head);
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([head, body, cipher.getAuthTag()]);
}

/** The header of a datagram, or undefined if it cannot be one of ours. Not yet authenticated. */
export function readHeader(datagram: Buffer): SealedHeader | undefined {
  if (datagram.length < HEADER_BYTES + TAG_BYTES || datagram[0] !== TUNNEL_VERSION) return undefined;
  if (datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) return undefined;
  return { keyId: datagram.readUInt32BE(4), session: datagram.readBigUInt64BE(8), counter: datagram.readBigUInt64BE(16) };
}

/** The plaintext, or undefined when the tag does not verify (wrong key, tampered, forged). */
export function open(key: Buffer, datagram: Buffer): Buffer | undefined {
  const header = readHeader(datagram);
  if (!header) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(header.counter));
  decipher.setAAD(datagram.subarray(0, HEADER_BYTES));
  decipher.setAuthTag(datagram.subarray(datagram.length - TAG_BYTES));
  const body = decipher.update(datagram.subarray(HEADER_BYTES, datagram.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return body;
}

/**
 * Anti-replay for one sender session: the highest counter seen and a 64-wide bitmap behind it,
 * as IPsec's receivers keep (RFC 4303 3.4.3). Datagrams may arrive out of order inside the
 * window; anything older, or seen before, is refused.
 */
export class ReplayWindow {
  private top = 0n;
  private bits = 0n;
  static readonly SIZE = 64n;

  /** True if `counter` is new; call only after the datagram authenticated, then it is marked. */
  accept(counter: bigint): boolean {
    if (counter === 0n) return false;
    if (counter > this.top) {
      const shift = counter - this.top;
      this.bits = shift >= ReplayWindow.SIZE ? 1n : ((this.bits << shift) | 1n) & ((1n << ReplayWindow.SIZE) - 1n);
      this.top = counter;
      return true;
    }
    const behind = this.top - counter;
    if (behind >= ReplayWindow.SIZE) return false;
    const bit = 1n << behind;
    if (this.bits & bit) return false;
    this.bits |= bit;
    return true;
  }
}
