// The SQLite group commit with its WAL fsync off the event loop (src/store/sqliteWriteBatch.ts):
// a write settles only after the sync that follows its COMMIT, reads in the process wait for that
// sync, the next batch commits only after it, and a failed sync fails the batch and the store.
// The sync is a stand-in the test releases (the real one is fs.fdatasync); a second connection
// shows what is committed in the file.
import { randomUUID } from 'node:crypto';
import { fstatSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openStore } from '../src/store/index.js';
import { openSqliteFile, withStatementCache } from '../src/store/sqlite.js';
import { SqliteBatchedDialect } from '../src/store/sqliteBatchedDialect.js';
import { SqliteWriteBatch, StoreSyncError, type SyncFile } from '../src/store/sqliteWriteBatch.js';
import { testAudit } from './helpers/audit.js';
import { insertCaAndProduct, newRequestRow } from './helpers/storeRows.js';
import { until } from './helpers/until.js';

interface Things {
  things: { id: string };
}

/** A promise's state, as far as this turn of the event loop knows. */
function track<T>(promise: Promise<T>): { readonly state: 'pending' | 'resolved' | 'rejected'; readonly error: unknown } {
  const t = { state: 'pending' as 'pending' | 'resolved' | 'rejected', error: undefined as unknown };
  promise.then(
    () => (t.state = 'resolved'),
    (error: unknown) => {
      t.state = 'rejected';
      t.error = error;
    },
  );
  return t;
}

/** Lets several turns of the event loop (timers, setImmediate, I/O) run. */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 1));
};

let dir: string;
let connection: BetterSqlite3.Database;
let observer: BetterSqlite3.Database;
/** The syncs the batch asked for, oldest first; each waits until the test answers it. */
let syncs: ((error: Error | null) => void)[];
let batch: SqliteWriteBatch;

const heldSync: SyncFile = (_fd, done) => void syncs.push(done);
const insert = (id: string) => () => connection.prepare('insert into things (id) values (?)').run(id);
const committed = () => (observer.prepare('select id from things order by id').all() as { id: string }[]).map((r) => r.id);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'certgate-groupcommit-'));
  const path = join(dir, 'db.sqlite');
  connection = openSqliteFile(path);
  connection.exec('create table things (id text primary key)');
  observer = new BetterSqlite3(path);
  syncs = [];
  batch = new SqliteWriteBatch(connection, heldSync);
});

afterEach(() => {
  observer.close();
  connection.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite group commit with the WAL synced off the event loop', () => {
  it('a write settles only once the sync after its COMMIT returns, and reads wait for that sync', async () => {
    const write = track(batch.submit(insert('a')));
    await until(() => syncs.length === 1, 5000, 'the batch asked for its sync');
    expect(committed()).toEqual(['a']);
    const read = batch.read(() => connection.prepare('select id from things').all());
    const readState = track(read);
    await turns();
    expect(write.state).toBe('pending');
    expect(readState.state).toBe('pending');

    syncs[0]!(null);
    await until(() => write.state === 'resolved' && readState.state === 'resolved', 5000, 'the write and the read settled');
    expect(await read).toEqual([{ id: 'a' }]);
    // Nothing in flight: a read runs at once.
    expect(await batch.read(() => committed())).toEqual(['a']);
  });

  it('writes arriving during a sync wait for it, then commit together in the next batch', async () => {
    const a = track(batch.submit(insert('a')));
    await until(() => syncs.length === 1, 5000, 'the first batch asked for its sync');
    const b = track(batch.submit(insert('b')));
    const c = track(batch.submit(insert('c')));
    await turns();
    // Held: the next COMMIT waits until the batch before it is durable.
    expect(committed()).toEqual(['a']);
    expect(syncs).toHaveLength(1);

    syncs[0]!(null);
    await until(() => syncs.length === 2, 5000, 'the second batch asked for its sync');
    expect(a.state).toBe('resolved');
    expect(committed()).toEqual(['a', 'b', 'c']);
    expect([b.state, c.state]).toEqual(['pending', 'pending']);
    syncs[1]!(null);
    await until(() => b.state === 'resolved' && c.state === 'resolved', 5000, 'the second batch settled');
  });

  it('a write that fails alone is rolled back alone, and still settles after the sync', async () => {
    const ok = track(batch.submit(insert('a')));
    const duplicate = track(batch.submit(insert('a')));
    await until(() => syncs.length === 1, 5000, 'the batch asked for its sync');
    expect(committed()).toEqual(['a']);
    expect(duplicate.state).toBe('pending');
    syncs[0]!(null);
    await until(() => ok.state !== 'pending' && duplicate.state !== 'pending', 5000, 'both settled');
    expect(ok.state).toBe('resolved');
    expect(duplicate.state).toBe('rejected');
    expect(String(duplicate.error)).toMatch(/UNIQUE/);
  });

  it('a failed sync rejects its batch and the writes waiting behind it, then every later write and read', async () => {
    const a = track(batch.submit(insert('a')));
    const b = track(batch.submit(insert('b')));
    await until(() => syncs.length === 1, 5000, 'the batch asked for its sync');
    const waiting = track(batch.submit(insert('c')));
    const read = track(batch.read(() => committed()));

    syncs[0]!(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await until(() => [a, b, waiting, read].every((t) => t.state === 'rejected'), 5000, 'all were rejected');
    for (const t of [a, b, waiting, read]) expect(t.error).toBeInstanceOf(StoreSyncError);
    expect((a.error as Error).cause).toMatchObject({ code: 'EIO' });

    await expect(batch.submit(insert('d'))).rejects.toBeInstanceOf(StoreSyncError);
    await expect(batch.read(() => 'read')).rejects.toBeInstanceOf(StoreSyncError);
    // The write waiting behind the failed sync never ran.
    expect(committed()).toEqual(['a', 'b']);
    expect(syncs).toHaveLength(1);
  });

  it('close() commits what was accepted and waits for its sync', async () => {
    const a = track(batch.submit(insert('a')));
    const closed = track(batch.close());
    await until(() => syncs.length === 1, 5000, 'the batch asked for its sync');
    await turns();
    expect(closed.state).toBe('pending');
    syncs[0]!(null);
    await until(() => closed.state === 'resolved', 5000, 'close() returned');
    expect(a.state).toBe('resolved');
  });

  it('Kysely on the connection: a read waits for the sync of what was committed', async () => {
    const db = new Kysely<Things>({ dialect: new SqliteBatchedDialect(withStatementCache(connection), batch) });
    const write = track(batch.submit(insert('a')));
    await until(() => syncs.length === 1, 5000, 'the batch asked for its sync');
    const read = db.selectFrom('things').select('id').execute();
    const readState = track(read);
    await turns();
    expect([write.state, readState.state]).toEqual(['pending', 'pending']);
    syncs[0]!(null);
    expect(await read).toEqual([{ id: 'a' }]);
    expect(write.state).toBe('resolved');
  });

  it('Kysely on the connection: a write joins the group commit and resolves after its sync', async () => {
    const db = new Kysely<Things>({ dialect: new SqliteBatchedDialect(withStatementCache(connection), batch) });
    const direct = track(batch.submit(insert('a')));
    const write = db.insertInto('things').values({ id: 'k' }).executeTakeFirst();
    const writeState = track(write);
    await until(() => syncs.length === 1, 5000, 'the batch asked for its sync');
    // One batch, one COMMIT, one sync for both.
    expect(committed()).toEqual(['a', 'k']);
    await turns();
    expect([direct.state, writeState.state]).toEqual(['pending', 'pending']);
    syncs[0]!(null);
    expect((await write).numInsertedOrUpdatedRows).toBe(1n);
    expect(direct.state).toBe('resolved');
    expect(syncs).toHaveLength(1);
  });

  it('a transaction of its own (master-key rotation) gets the connection from BEGIN to COMMIT: batches and reads wait, then see it once synced', async () => {
    const db = new Kysely<Things>({ dialect: new SqliteBatchedDialect(withStatementCache(connection), batch) });
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    let finish!: () => void;
    const mayCommit = new Promise<void>((resolve) => (finish = resolve));
    const transaction = db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      await conn.insertInto('things').values({ id: 't1' }).execute();
      inside();
      await mayCommit;
      await conn.insertInto('things').values({ id: 't2' }).execute();
      await sql`commit`.execute(conn);
    });
    await entered;
    const queued = track(batch.submit(insert('b')));
    const read = track(batch.read(() => connection.prepare('select count(*) as n from things').get()));
    await turns();
    // Nothing of the batch ran inside the open transaction, and no read saw it half-done.
    expect([queued.state, read.state]).toEqual(['pending', 'pending']);
    finish();
    await until(() => syncs.length === 1, 5000, 'the COMMIT asked for its sync');
    expect(committed()).toEqual(['t1', 't2']);
    expect(read.state).toBe('pending');
    syncs[0]!(null);
    await transaction;
    await until(() => syncs.length === 2, 5000, 'the waiting batch committed after the transaction');
    syncs[1]!(null);
    await until(() => queued.state === 'resolved', 5000, 'the waiting write settled');
    expect(committed()).toEqual(['b', 't1', 't2']);
    expect(read.state).toBe('resolved');
  });

  it('a transaction of its own that rolls back leaves nothing and frees the connection', async () => {
    const db = new Kysely<Things>({ dialect: new SqliteBatchedDialect(withStatementCache(connection), batch) });
    await expect(
      db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        await conn.insertInto('things').values({ id: 'gone' }).execute();
        await sql`rollback`.execute(conn);
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    const after = batch.submit(insert('a'));
    await until(() => syncs.length === 1, 5000, 'the next batch committed');
    syncs[0]!(null);
    await after;
    expect(committed()).toEqual(['a']);
  });
});

describe('the WAL file synced', () => {
  it('is the one SQLite writes, also when the database is opened through a symlink', async () => {
    const link = join(dir, 'link.sqlite');
    symlinkSync(join(dir, 'db.sqlite'), link);
    const throughLink = openSqliteFile(link);
    const synced: number[] = [];
    const linked = new SqliteWriteBatch(throughLink, (fd, done) => {
      synced.push(fstatSync(fd).ino);
      done(null);
    });
    await linked.submit(() => throughLink.prepare('insert into things (id) values (?)').run('via-link'));
    expect(synced).toEqual([statSync(join(dir, 'db.sqlite-wal')).ino]);
    expect(committed()).toEqual(['via-link']);
    await linked.close();
    throughLink.close();
  });
});

describe('the SQLite store on a file (real fdatasync)', () => {
  it('many concurrent writes: each read after a write sees it, and all of it is there after reopening', async () => {
    const path = join(dir, 'store.sqlite');
    const store = await openStore({ sqlitePath: path });
    const { caId, productId } = await insertCaAndProduct(store, parseProductTemplate({}));
    const ids = Array.from({ length: 200 }, () => randomUUID());
    const seen = await Promise.all(
      ids.map(async (id) => {
        await store.requests.insert(newRequestRow(productId, caId, { id }), testAudit());
        return (await store.requests.get(id))?.id;
      }),
    );
    expect(seen).toEqual(ids);
    await store.close();

    const reopened = await openStore({ sqlitePath: path });
    const found = await Promise.all(ids.map((id) => reopened.requests.get(id)));
    expect(found.map((r) => r?.id)).toEqual(ids);
    // Every write is in the audit chain, once.
    expect((await reopened.audit.after(0, 1000)).length).toBeGreaterThanOrEqual(ids.length + 2);
    await reopened.close();
  });
});
