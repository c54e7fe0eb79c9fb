// An audit entry for store writes a test makes directly (the services build their own), and what
// someone with write access to the database (and not the master key) can do to the trail.
import { entryHash, GENESIS_HASH, legacyEntryHash } from '../../src/audit/chain.js';
import type { AuditEntryInput } from '../../src/core/types.js';
import { auditFromRow } from '../../src/store/audit.js';
import type { AuditLogTable } from '../../src/store/schema.js';
import type { Selectable } from 'kysely';
import type { RawDb } from './rawDb.js';

export const testAudit = (action = 'test', target = 'x'): AuditEntryInput => ({
  actor: 'test',
  protocol: 'cli',
  sourceIp: null,
  action,
  target,
  outcome: 'success',
});

export type { RawDb };

const COLUMNS = ['seq', 'at', 'actor', 'protocol', 'source_ip', 'action', 'target', 'outcome', 'detail', 'prev_hash', 'hash'] as const;

/** Every row of the trail, in order, as stored: to put back with restoreTrail. */
export async function snapshotTrail(db: RawDb): Promise<Record<string, unknown>[]> {
  return (await db.rows(`select ${COLUMNS.join(', ')} from audit_log order by seq`)) as Record<string, unknown>[];
}

export async function restoreTrail(db: RawDb, rows: readonly Record<string, unknown>[]): Promise<void> {
  await db.exec('delete from audit_log');
  for (const row of rows) await db.exec(`insert into audit_log (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`, COLUMNS.map((c) => row[c]));
}

/**
 * Recomputes every link of the stored trail, in sequence order, as an attacker would after
 * changing it: with the plain SHA-256 the chain used before it was keyed (the format is public),
 * or with an HMAC under a key of their own guessing.
 */
export async function rebuildChain(db: RawDb, how: { plain: true } | { key: Buffer }): Promise<void> {
  const rows = (await db.rows('select * from audit_log order by seq')) as Selectable<AuditLogTable>[];
  let prev = GENESIS_HASH;
  for (const row of rows) {
    const entry = { ...auditFromRow(row), prevHash: prev };
    const hash = 'plain' in how ? legacyEntryHash(entry) : entryHash(how.key, entry);
    await db.exec('update audit_log set prev_hash = ?, hash = ? where seq = ?', [prev, hash, row.seq]);
    prev = hash;
  }
}
