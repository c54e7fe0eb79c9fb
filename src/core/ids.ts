import { randomFillSync } from 'node:crypto';

// A pool of random bytes refilled 4 KiB at a time: one call into OpenSSL per ~400 ids.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function random10(): Buffer {
  if (offset + 10 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + 10);
  offset += 10;
  return out;
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Ids of records written
 * together sort together, so B-tree inserts land on the same few pages instead of one random page
 * per index per row; with SQLite that is most of the write volume of an issuance.
 */
export function newId(now = Date.now()): string {
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(now, 0, 6);
  random10().copy(b, 6);
  b[6] = 0x70 | ((b[6] as number) & 0x0f);
  b[8] = 0x80 | ((b[8] as number) & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
