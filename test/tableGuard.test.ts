// A protocol's tables handle touches that protocol's own tables only: the core's (credentials,
// certificates, the audit trail) and other protocols' are refused, whether the statement is built
// on the handle or handed to its write() from elsewhere, and nothing is read or written.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOLS } from '../protocols/index.js';
import { SCEP_MIGRATIONS } from '../protocols/scep/migrations.js';
import { tablesCreatedBy, TableGuardError } from '../src/core/tableGuard.js';
import { initialize } from '../src/init.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { testConfig } from './helpers/gateway.js';

// What a protocol could claim its schema to be: the type is the protocol's to choose, so the guard
// has to hold at run time.
type Anything = Record<string, { id: string; name: string; type: string; secret: string; ca_id: string }>;

describe('protocol table handles', () => {
  let rt: Runtime;

  beforeAll(async () => {
    rt = await openRuntime(testConfig({}, 'certgate-tables-'), {
      protocols: PROTOCOLS,
    });
    await initialize(rt);
  });
  afterAll(async () => {
    await rt?.close();
  });

  const handle = (protocol: string) => rt.protocolCore(protocol).tables<Anything>();
  const credentialCount = async () => (await rt.store.credentials.list({}, { limit: 1000, offset: 0 })).total;

  it("knows a protocol's tables from its migrations", async () => {
    expect([...(await tablesCreatedBy(SCEP_MIGRATIONS))].sort()).toEqual(['scep_challenges', 'scep_ra_certificates']);
  });

  it('reads its own tables', async () => {
    await expect(handle('scep').db.selectFrom('scep_challenges').select('id').execute()).resolves.toEqual([]);
    await expect(handle('acme').db.selectFrom('acme_accounts').select('id').execute()).resolves.toEqual([]);
  });

  it.each(['acme', 'est', 'scep', 'rest', 'status'])('%s: refuses the core tables credentials and certificates', async (protocol) => {
    const { db, write } = handle(protocol);
    await expect(db.selectFrom('credentials').selectAll().execute()).rejects.toThrow(TableGuardError);
    await expect(db.selectFrom('certificates').select('id').execute()).rejects.toThrow(/may not touch the table "certificates"/);
    // Hidden in a join, a subquery or a CTE body.
    await expect(db.selectFrom('est_server_keys' as 'x').innerJoin('credentials', 'credentials.id', 'x.id').selectAll().execute()).rejects.toThrow(TableGuardError);
    await expect(
      db
        .selectFrom('scep_challenges' as 'x')
        .select('id')
        .where('id', 'in', (eb) => eb.selectFrom('credentials').select('id'))
        .execute(),
    ).rejects.toThrow(TableGuardError);
    await expect(
      db
        .with('c', (qb) => qb.selectFrom('credentials').select(['id', 'secret']))
        .selectFrom('c')
        .selectAll()
        .execute(),
    ).rejects.toThrow(TableGuardError);
    // Raw SQL cannot be checked, so it is not run.
    await expect(sql`select secret from credentials`.execute(db)).rejects.toThrow(TableGuardError);
    // Writes: built on the handle, or built on the store's own database and handed to write().
    const before = await credentialCount();
    expect(before).toBeGreaterThan(0);
    await expect(write(db.deleteFrom('credentials'))).rejects.toThrow(TableGuardError);
    await expect(write(rt.store.db.deleteFrom('credentials'))).rejects.toThrow(TableGuardError);
    await expect(write(rt.store.db.updateTable('certificates').set({ revoked_at: null }))).rejects.toThrow(TableGuardError);
    expect(await credentialCount()).toBe(before);
  });

  it("refuses another protocol's tables", async () => {
    await expect(handle('scep').db.selectFrom('acme_accounts').selectAll().execute()).rejects.toThrow(/scep may not touch the table "acme_accounts"/);
    await expect(handle('acme').write(handle('acme').db.deleteFrom('est_server_keys'))).rejects.toThrow(TableGuardError);
  });
});
