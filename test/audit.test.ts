// The audit trail: a chain keyed by the master key that names the first entry altered, unkeyed,
// removed or reordered; written with every kind of change, in the change's own transaction;
// anchored by signed checkpoints against a cut-off tail; on SQLite and PostgreSQL.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../src/audit/actions.js';
import { chainKeyOf, legacyEntryHash, sealEntry, verifyChain, type ChainReport } from '../src/audit/chain.js';
import { checkAgainst, makeCheckpoint, readCheckpoint } from '../src/audit/checkpoint.js';
import type { TrailReport } from '../src/audit/trail.js';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { Config } from '../src/config.js';
import { createProduct } from '../src/core/products.js';
import type { AuditEntry } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openRuntime } from '../src/runtime.js';
import { openStore } from '../src/store/index.js';
import { ensureTlsCertificate } from '../src/tlsCertificate.js';
import { PROTOCOLS } from '../protocols/index.js';
import { deploymentConfig, deploymentMissing, TEST_MASTER_KEY, testConfig } from './helpers/gateway.js';
import { rebuildChain, restoreTrail, snapshotTrail } from './helpers/audit.js';
import { openRawDb, type RawConnection, type RawDb } from './helpers/rawDb.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';

const root = join(import.meta.dirname, '..');
const MASTER_KEY = TEST_MASTER_KEY;
const KEY = chainKeyOf(MASTER_KEY);

async function* listed(entries: readonly AuditEntry[]): AsyncGenerator<AuditEntry> {
  yield* [...entries].sort((a, b) => a.seq - b.seq);
}

const verifyList = (entries: readonly AuditEntry[]): Promise<ChainReport> =>
  verifyChain(KEY, listed(entries), async (hash) => entries.find((e) => e.hash === hash)?.seq);

function chainOf(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i < n; i++) {
    const prev = out[i - 1];
    out.push(
      sealEntry(
        KEY,
        { actor: `actor-${i % 3}`, protocol: 'rest', sourceIp: i % 2 ? '192.0.2.1' : null, action: 'certificate.revoke', target: `t${i}`, outcome: 'success', detail: { i, nested: { b: 1, a: [i] } } },
        prev && { seq: prev.seq, hash: prev.hash },
        new Date(1_700_000_000_000 + i * 1000),
      ),
    );
  }
  return out;
}

describe('the hash chain', () => {
  it('verifies an untouched chain, and an empty one', async () => {
    expect(await verifyList(chainOf(5))).toMatchObject({ ok: true, entries: 5, head: { seq: 5 } });
    expect(await verifyList([])).toEqual({ ok: true, entries: 0, head: null });
  });

  it('names the first entry altered, removed or reordered, whatever the chain and the tampering', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 25 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.oneof(
              fc.record({ kind: fc.constant('altered' as const), i: fc.integer({ min: 0, max: n - 1 }), field: fc.constantFrom('actor', 'target', 'at', 'detail', 'sourceIp', 'outcome') }),
              // The last entry's removal leaves a valid (shorter) chain: only an anchor kept elsewhere catches that.
              fc.record({ kind: fc.constant('removed' as const), i: fc.integer({ min: 0, max: n - 2 }) }),
              fc.record({ kind: fc.constant('reordered' as const), i: fc.integer({ min: 0, max: n - 2 }), d: fc.integer({ min: 1, max: n - 1 }) }),
            ),
          ),
        ),
        async ([n, t]) => {
          const entries = chainOf(n);
          let expectedSeq: number;
          if (t.kind === 'altered') {
            const e = entries[t.i] as AuditEntry;
            const forged: AuditEntry =
              t.field === 'at'
                ? { ...e, at: new Date(e.at.getTime() + 1) }
                : t.field === 'detail'
                  ? { ...e, detail: { ...e.detail, i: -1 } }
                  : t.field === 'sourceIp'
                    ? { ...e, sourceIp: '203.0.113.9' }
                    : t.field === 'outcome'
                      ? { ...e, outcome: 'refused' }
                      : { ...e, [t.field]: 'forged' };
            entries[t.i] = forged;
            expectedSeq = e.seq;
          } else if (t.kind === 'removed') {
            entries.splice(t.i, 1);
            expectedSeq = (entries[t.i] as AuditEntry).seq;
          } else {
            // Two rows trade places: each takes the other's sequence number.
            const j = Math.min(n - 1, t.i + t.d);
            const a = entries[t.i] as AuditEntry;
            const b = entries[j] as AuditEntry;
            entries[t.i] = { ...b, seq: a.seq };
            entries[j] = { ...a, seq: b.seq };
            expectedSeq = a.seq;
          }
          const report = await verifyList(entries);
          expect(report.ok).toBe(false);
          expect(report.broken).toMatchObject({ kind: t.kind, seq: expectedSeq });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not take a chain rebuilt by someone without the master key: with a plain hash, or under another key', async () => {
    const entries = chainOf(6);
    // An edit of entry 3, then every link recomputed from the first, as with write access to the database.
    const rebuilt = (hashOf: (e: AuditEntry) => string): AuditEntry[] => {
      let prev = '0'.repeat(64);
      return entries.map((e) => {
        const edited = { ...e, target: e.seq === 3 ? 'forged' : e.target, prevHash: prev };
        prev = hashOf(edited);
        return { ...edited, hash: prev };
      });
    };
    expect(await verifyList(rebuilt(legacyEntryHash))).toMatchObject({ ok: false, broken: { kind: 'unkeyed', seq: 1 } });
    const guessed = chainKeyOf('a-guess-at-the-master-key-000000');
    expect(await verifyList(rebuilt((e) => sealEntry(guessed, e, { seq: e.seq - 1, hash: e.prevHash }, e.at).hash))).toMatchObject({ ok: false, broken: { kind: 'altered', seq: 1 } });
    // The same rebuild under the real key is what the key buys: only its holder can make it.
    expect(await verifyList(rebuilt((e) => sealEntry(KEY, e, { seq: e.seq - 1, hash: e.prevHash }, e.at).hash))).toMatchObject({ ok: true });
  });
});

describe('checkpoints', () => {
  const head = { seq: 42, hash: 'ab'.repeat(32) };

  it('are signed under the master key: another key, or any edit, is refused', () => {
    const text = JSON.stringify(makeCheckpoint(MASTER_KEY, head, new Date('2026-12-01T00:00:00Z')));
    expect(readCheckpoint(MASTER_KEY, text)).toMatchObject({ seq: 42, head_hash: head.hash, at: '2026-12-01T00:00:00.000Z' });
    expect(() => readCheckpoint('another-master-key-0123456789ab', text)).toThrow(/another key/);
    const edited = JSON.parse(text) as Record<string, unknown>;
    expect(() => readCheckpoint(MASTER_KEY, JSON.stringify({ ...edited, seq: 7 }))).toThrow(/does not verify/);
    expect(() => readCheckpoint(MASTER_KEY, JSON.stringify({ ...edited, head_hash: 'cd'.repeat(32) }))).toThrow(/does not verify/);
    expect(() => readCheckpoint(MASTER_KEY, 'not json')).toThrow(/not JSON/);
    expect(() => readCheckpoint(MASTER_KEY, '{"format":"something else"}')).toThrow(/not a certgate audit checkpoint/);
  });

  it('tell a cut-off tail from a rewrite', () => {
    const c = makeCheckpoint(MASTER_KEY, head, new Date());
    expect(checkAgainst(c, head, { seq: 50, hash: 'ef'.repeat(32) })).toBeUndefined();
    expect(checkAgainst(c, undefined, { seq: 41, hash: 'ef'.repeat(32) })).toMatchObject({ kind: 'truncated', seq: 42 });
    expect(checkAgainst(c, undefined, null)).toMatchObject({ kind: 'truncated', seq: 42 });
    expect(checkAgainst(c, { seq: 42, hash: 'ef'.repeat(32) }, { seq: 42, hash: 'ef'.repeat(32) })).toMatchObject({ kind: 'rewritten', seq: 42 });
    // Sequence numbers were shifted past it: the trail is longer, but entry 42 is not there.
    expect(checkAgainst(c, undefined, { seq: 60, hash: 'ef'.repeat(32) })).toMatchObject({ kind: 'rewritten', seq: 42 });
  });
});

interface Deployment {
  name: string;
  skip?: boolean;
  config: () => Promise<Partial<Config>>;
}

const deployments: Deployment[] = [
  { name: 'SQLite', config: async () => ({}) },
  { name: 'PostgreSQL', skip: deploymentMissing({ backend: 'postgres' }), config: () => deploymentConfig({ backend: 'postgres' }) },
];

for (const d of deployments) {
  describe.skipIf(d.skip)(`the audit trail on ${d.name}`, () => {
    const dir = tempDir();
    let config: Config;
    // Straight at the database, as someone with its credentials (not certgate's) would.
    let raw: RawConnection | undefined;
    const rows = (sql: string, params?: unknown[]) => (raw as RawConnection).rows(sql, params);
    const exec = (sql: string, params?: unknown[]) => (raw as RawConnection).exec(sql, params);
    const db: RawDb = { rows, exec };

    /** `certgate …` as an operator runs it. */
    const cli = (args: string[], env: Record<string, string> = {}) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), ...args], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, CERTGATE_DATA_DIR: dir, CERTGATE_LOG_LEVEL: 'silent', CERTGATE_MASTER_KEY: MASTER_KEY, DATABASE_URL: config.databaseUrl ?? '', REDIS_URL: '', ...env },
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: <T>() => JSON.parse(r.stdout || '{}') as T };
    };
    /** `certgate audit verify --json [--checkpoint FILE]`. */
    const verifyCli = (...extra: string[]) => {
      const r = cli(['audit', 'verify', '--json', ...extra]);
      return { code: r.code, report: r.json<TrailReport>(), stderr: r.stderr };
    };
    /** The same walk in this process (a CLI start costs seconds on a busy machine). */
    const verifyHere = async (checkpointFile?: string): Promise<TrailReport> => {
      const store = await openStore({ ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}), sqlitePath: join(dir, 'certgate.db'), chainKey: KEY });
      try {
        return await store.audit.verify(checkpointFile ? readCheckpoint(MASTER_KEY, readFileSync(checkpointFile, 'utf8')) : undefined);
      } finally {
        await store.close();
      }
    };

    beforeAll(async () => {
      config = testConfig({ dataDir: dir, issueWaitMs: 15_000, ...(await d.config()) });
      raw = await openRawDb(config.databaseUrl, dir);
    });

    afterAll(async () => {
      await raw?.close();
    });

    it('records every kind of change, and `audit verify` passes on it', async () => {
      const rt = await openRuntime(config, { protocols: PROTOCOLS });
      try {
        await rt.startWorker();
        const init = await initialize(rt);
        const issuing = init.issuing as { id: string };
        const extra = await createCa(rt.store, { name: 'extra-ca', keyAlgorithm: 'ec-p256', validityDays: 30, parentId: init.root?.id as string }, rt.secrets, CLI_CONTEXT);
        const held = await createProduct(rt.store, { name: 'held', caId: extra.id, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT);
        const narrow = await createProduct(rt.store, { name: 'narrow', caId: issuing.id, template: parseProductTemplate({ allowedDnsSuffixes: ['example.com'] }) }, CLI_CONTEXT);
        const by = { principal: 'apikey:test', actor: 'test-credential', sourceIp: '192.0.2.10', protocol: 'rest' as const };
        const csr = (name: string) => makeCsr(dir, { key: 'ec-p256', subject: `/CN=${name}`, san: [`DNS:${name}`] }).csrPem;

        // Issuance, and a revocation that is a hold, lifted, then made permanent.
        const { request } = await rt.enrollments.submit({ ...by, product: { id: (init.product as { id: string }).id } }, csr('issued.test'));
        const issued = await rt.enrollments.waitForOutcome(request, 15_000);
        expect(issued.state).toBe('issued');
        const certId = issued.state === 'issued' ? issued.certificate.id : '';
        await rt.revocations.revoke(certId, { reason: 'certificateHold' }, CLI_CONTEXT, () => undefined);
        await rt.revocations.reinstate(certId, CLI_CONTEXT, () => undefined);
        await rt.revocations.revoke(certId, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
        // An escrowed key handed out, as a PKCS#12 download does (the envelope is not opened here).
        const { request: escrowed } = await rt.enrollments.submit({ ...by, product: { id: (init.product as { id: string }).id } }, csr('escrowed.test'), {
          details: { keySource: 'managed', escrowedKey: '{"sealed":"under the master key"}' },
        });
        const escrowedCert = await rt.enrollments.waitForOutcome(escrowed, 15_000);
        if (escrowedCert.state !== 'issued') throw new Error(`escrowed.test was not issued: ${escrowedCert.state}`);
        expect(await rt.core.queries.escrowedKeyForExport(escrowedCert.certificate, CLI_CONTEXT, { format: 'pkcs12' })).toBe('{"sealed":"under the master key"}');
        // A server-generated key handed out again (EST serverkeygen, a request sent twice).
        await rt.core.queries.recordKeyRedelivery(escrowedCert.certificate, CLI_CONTEXT, { operation: 'serverkeygen' });
        // A policy refusal by the worker.
        const { request: refused } = await rt.enrollments.submit({ ...by, product: { id: narrow.id } }, csr('elsewhere.test'));
        expect((await rt.enrollments.waitForOutcome(refused, 15_000)).state).toBe('rejected');
        // Approval and decline.
        const { request: toApprove } = await rt.enrollments.submit({ ...by, product: { id: held.id } }, csr('approve.test'));
        const { request: toDecline } = await rt.enrollments.submit({ ...by, product: { id: held.id } }, csr('decline.test'));
        expect((await rt.enrollments.waitForOutcome(toApprove, 2_000)).state).toBe('pending');
        expect((await rt.enrollments.waitForOutcome(toDecline, 2_000)).state).toBe('pending');
        await rt.enrollments.approve(toApprove.id, CLI_CONTEXT);
        await rt.enrollments.reject(toDecline.id, 'not for this network', CLI_CONTEXT);
        expect((await rt.enrollments.waitForOutcome(toApprove, 15_000)).state).toBe('issued');
        // Credentials: create, a token, rotate, revoke, and refused logins.
        const cred = await rt.credentials.create({ type: 'rest', products: '*', permissions: [{ ca: '*', actions: ['read'] }] }, CLI_CONTEXT);
        expect((await rt.credentials.exchangeToken(cred.credential.id, cred.secret, { protocol: 'rest', sourceIp: '192.0.2.11' })).ok).toBe(true);
        await rt.credentials.rotate(cred.credential.id, 0, CLI_CONTEXT);
        const wrong = await rt.credentials.authenticate({ type: 'rest', bearer: cred.secret }, { protocol: 'rest', sourceIp: '192.0.2.12' });
        expect(wrong).toMatchObject({ ok: false, reason: 'wrongSecret' });
        await rt.credentials.revoke(cred.credential.id, CLI_CONTEXT);
        const est = await rt.credentials.create({ type: 'est', name: 'router', products: [held.id] }, CLI_CONTEXT);
        expect(await rt.credentials.authenticate({ type: 'est', username: 'router', password: `${est.secret}x` }, { protocol: 'est', sourceIp: '192.0.2.13' })).toMatchObject({ ok: false, reason: 'wrongSecret' });

        // The inventory: a certificate from elsewhere imported, edited, marked, located and removed.
        const foreignKey = join(dir, 'foreign.key');
        const foreignPem = join(dir, 'foreign.pem');
        openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', foreignKey, '-out', foreignPem, '-subj', '/CN=legacy.example.net', '-days', '30']);
        const anywhere = () => undefined;
        const imported = await rt.core.inventory.import({ certificatePem: readFileSync(foreignPem, 'utf8') }, CLI_CONTEXT);
        await rt.core.inventory.update(imported.id, { owner: 'legacy team' }, CLI_CONTEXT, anywhere);
        await rt.core.inventory.markRenewed(imported.id, 'renewed elsewhere', CLI_CONTEXT, anywhere);
        await rt.core.inventory.markRevoked({ issuer: imported.issuer as string, serialNumber: imported.serialNumber, reason: 'superseded' }, CLI_CONTEXT, anywhere);
        const location = await rt.core.inventory.addLocation(imported.id, { host: 'legacy.example.net', port: 443, path: null, kind: 'server', notes: null }, CLI_CONTEXT, anywhere);
        await rt.core.inventory.updateLocation(imported.id, location.id, { host: 'legacy.example.net', port: 8443, path: null, kind: 'server', notes: null }, CLI_CONTEXT, anywhere);
        await rt.core.inventory.removeLocation(imported.id, location.id, CLI_CONTEXT, anywhere);
        expect(await rt.core.inventory.remove(imported.id, CLI_CONTEXT, anywhere)).toBe('deleted');

        // A product edited through the core's door (what PUT /v1/products/{id} calls).
        await rt.core.catalogueAdmin.updateProduct(held.id, { name: 'held', template: { requiresApproval: true, maxValidityDays: 200 } }, CLI_CONTEXT);

        // A certificate the gateway issues to itself (its HTTPS certificate), through the core's signer.
        await ensureTlsCertificate(rt);

        // A webhook subscription made and removed: recorded without its signing secret.
        const hook = await rt.core.webhooks.create({ url: 'https://hooks.example.com/audit', events: ['certificate.issued'], productIds: null }, 'cli', CLI_CONTEXT);
        await rt.core.webhooks.remove(hook.subscription.id, CLI_CONTEXT);

        // Domain and organization records: added and removed; made, approved, declined, removed.
        const domain = await rt.domains.add({ name: 'audit.example.com', holder: '*', createdBy: 'cli' }, CLI_CONTEXT);
        await rt.domains.remove(domain.domain.id, CLI_CONTEXT);
        const approver = { ...CLI_CONTEXT, actor: 'approver-credential' };
        const approved = await rt.organizations.create({ name: 'Audit Corp', holder: '*' }, 'apikey:maker', CLI_CONTEXT);
        await rt.organizations.approve(approved.id, approver, 'apikey:approver-credential');
        const declined = await rt.organizations.create({ name: 'Shell Corp', holder: '*' }, 'apikey:maker', CLI_CONTEXT);
        await rt.organizations.decline(declined.id, 'not vetted', approver, 'apikey:approver-credential');
        await rt.organizations.remove(approved.id, CLI_CONTEXT);

        const { entries } = await rt.store.audit.list({}, { limit: 1000, offset: 0 });
        const actions = new Set(entries.map((e) => e.action));
        expect(JSON.stringify(entries)).not.toContain(hook.secret.slice('whsec_'.length));
        // Written and checked elsewhere: ACME's account events (acme.rfc.test.ts) and reused authorizations
        // (acme.dcvReuse.test.ts), rate-limit refusals and
        // SCEP challenge minting (limits.test.ts), master-key rotation (masterKeyRotate.test.ts), domain validation
        // and requests waiting on it (domains.service.test.ts, dcv.e2e.test.ts: a check here would leave loopback),
        // orders at an upstream ACME CA (upstream.pebble.test.ts: they need an upstream), the ends of CMP
        // transactions (cmp.server.test.ts, clients/cmp.openssl.test.ts: they need a CMP client);
        // the trail's own maintenance has tests of its own below.
        const apart: string[] = [
          AUDIT.requestFail,
          AUDIT.acmeAccountCreate,
          AUDIT.acmeEabBind,
          AUDIT.acmeKeyChange,
          AUDIT.acmeAccountDeactivate,
          AUDIT.acmeAuthzReuse,
          AUDIT.auditChainKeyed,
          AUDIT.auditCheckpoint,
          AUDIT.rateLimited,
          AUDIT.scepChallengeMint,
          AUDIT.masterKeyRotate,
          // Written and checked by console.session.test.ts.
          AUDIT.consoleSignIn,
          AUDIT.consoleSignOut,
          AUDIT.domainValidate,
          AUDIT.requestAwaitDcv,
          AUDIT.requestResume,
          AUDIT.upstreamOrder,
          AUDIT.cmpTransaction,
          // Written and checked by mcp.test.ts.
          AUDIT.mcpToolCall,
        ];
        const expected = Object.values(AUDIT).filter((a) => !apart.includes(a));
        expect(expected.filter((a) => !actions.has(a))).toEqual([]);
        // Who, from where, never a secret.
        expect(entries.find((e) => e.action === AUDIT.requestSubmit)).toMatchObject({ actor: 'test-credential', sourceIp: '192.0.2.10', protocol: 'rest' });
        expect(entries.find((e) => e.action === AUDIT.certificateIssue && e.target === certId)).toMatchObject({ actor: 'system', detail: { request: request.id } });
        expect(entries.find((e) => e.action === AUDIT.requestDecline)).toMatchObject({ target: toDecline.id, detail: { reason: 'not for this network' } });
        const refusals = entries.filter((e) => e.action === AUDIT.authRefused);
        expect(refusals.map((e) => [e.target, e.sourceIp, e.detail.reason])).toEqual(
          expect.arrayContaining([
            [cred.credential.id, '192.0.2.12', 'wrongSecret'],
            [est.credential.id, '192.0.2.13', 'wrongSecret'],
          ]),
        );
        const everything = JSON.stringify(entries);
        for (const secret of [cred.secret, est.secret]) expect(everything).not.toContain(secret);
        expect(await rt.store.audit.verify()).toMatchObject({ ok: true, entries: entries.length });
      } finally {
        await rt.close();
      }
      const cli = verifyCli();
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.report.ok).toBe(true);
    });

    it('`audit verify` names an edited, a deleted and a swapped entry, and exits non-zero', async () => {
      // Each tampering is checked, then undone, so each is found on its own.
      const check = (kind: string, seq: number) => {
        const cli = verifyCli();
        expect(cli.code, cli.stderr).toBe(1);
        expect(cli.report).toMatchObject({ ok: false, broken: { kind, seq } });
      };
      const intact = () => expect(verifyCli().code).toBe(0);

      const [{ target }] = (await rows('select target from audit_log where seq = 5')) as [{ target: string }];
      await exec(`update audit_log set target = 'forged' where seq = 5`);
      check('altered', 5);
      await exec('update audit_log set target = ? where seq = 5', [target]);
      intact();

      const [row] = (await rows('select * from audit_log where seq = 7')) as [Record<string, unknown>];
      await exec('delete from audit_log where seq = 7');
      check('removed', 8);
      const columns = Object.keys(row);
      await exec(`insert into audit_log (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`, columns.map((c) => row[c]));
      intact();

      const swap = async () => {
        await exec('update audit_log set seq = -1 where seq = 3');
        await exec('update audit_log set seq = 3 where seq = 4');
        await exec('update audit_log set seq = 4 where seq = -1');
      };
      await swap();
      check('reordered', 3);
      await swap();
      intact();
    });

    it('does not take a chain an attacker rebuilt without the master key, and start-up does not bless it', { timeout: 180_000 }, async () => {
      const saved = await snapshotTrail(db);
      await exec(`update audit_log set target = 'forged' where seq = 5`);
      await rebuildChain(db, { plain: true });
      const plain = verifyCli();
      expect(plain.code, plain.stderr).toBe(1);
      expect(plain.report).toMatchObject({ ok: false, broken: { kind: 'unkeyed', seq: 1 } });
      // A start in between changes nothing: start-up never re-seals a trail on its own.
      const rt = await openRuntime(config, { protocols: PROTOCOLS });
      await rt.close();
      expect(await verifyHere()).toMatchObject({ ok: false, broken: { kind: 'unkeyed', seq: 1 } });
      await rebuildChain(db, { key: chainKeyOf('a-guess-at-the-master-key-000000') });
      expect(await verifyHere()).toMatchObject({ ok: false, broken: { kind: 'altered', seq: 1 } });
      // The tail cut off as well: still the first entry that gives it away.
      await exec('delete from audit_log where seq > 10');
      expect(await verifyHere()).toMatchObject({ ok: false, broken: { kind: 'altered', seq: 1 } });
      await restoreTrail(db, saved);
      expect((await verifyHere()).ok).toBe(true);
    });

    it('a signed checkpoint catches a cut-off tail and a rewrite before it; a forged checkpoint is refused', { timeout: 180_000 }, async () => {
      const file = join(dir, 'checkpoint.json');
      const made = cli(['audit', 'checkpoint', '--out', file, '--json']);
      expect(made.code, made.stderr).toBe(0);
      const checkpoint = JSON.parse(readFileSync(file, 'utf8')) as { seq: number; head_hash: string };
      expect(made.json()).toMatchObject({ out: file, seq: checkpoint.seq, head_hash: checkpoint.head_hash });
      const [recorded] = (await rows(`select detail from audit_log where action = 'audit.checkpoint' and seq = ?`, [checkpoint.seq + 1])) as [{ detail: string }];
      expect(JSON.parse(recorded.detail)).toMatchObject({ seq: checkpoint.seq, head_hash: checkpoint.head_hash });
      expect(await verifyHere(file)).toMatchObject({ ok: true, checkpoint: { seq: checkpoint.seq, ok: true } });
      const saved = await snapshotTrail(db);

      // The tail cut off, the checkpoint's entry with it: the chain that is left verifies on its own.
      await exec('delete from audit_log where seq >= ?', [checkpoint.seq - 2]);
      expect((await verifyHere()).ok).toBe(true);
      const cut = verifyCli('--checkpoint', file);
      expect(cut.code).toBe(1);
      expect(cut.report).toMatchObject({ ok: false, checkpoint: { ok: false, broken: { kind: 'truncated', seq: checkpoint.seq } } });
      await restoreTrail(db, saved);

      // An entry before it edited and the chain rebuilt with a plain hash.
      await exec(`update audit_log set actor = 'someone else' where seq = 2`);
      await rebuildChain(db, { plain: true });
      expect(await verifyHere(file)).toMatchObject({ ok: false, checkpoint: { ok: false, broken: { kind: 'rewritten', seq: checkpoint.seq } } });
      await restoreTrail(db, saved);

      // Sequence numbers are not sealed (the links order the chain): shifted by one, the chain
      // still verifies, but the entry the checkpoint saw is no longer where it saw it.
      await exec('update audit_log set seq = seq + 1000000');
      await exec('update audit_log set seq = seq - 999999');
      expect((await verifyHere()).ok).toBe(true);
      expect(await verifyHere(file)).toMatchObject({ ok: false, checkpoint: { ok: false, broken: { kind: 'rewritten', seq: checkpoint.seq } } });
      await restoreTrail(db, saved);
      expect((await verifyHere(file)).ok).toBe(true);

      // A checkpoint moved back to before the cut, or one signed under another master key.
      const forged = join(dir, 'forged.json');
      writeFileSync(forged, JSON.stringify({ ...checkpoint, seq: checkpoint.seq - 5 }));
      const edited = cli(['audit', 'verify', '--checkpoint', forged]);
      expect(edited.code).toBe(1);
      expect(edited.stderr).toMatch(/signature does not verify/);
      writeFileSync(forged, JSON.stringify(makeCheckpoint('another-deployment-master-key-00', { seq: 3, hash: checkpoint.head_hash }, new Date())));
      expect(() => readCheckpoint(MASTER_KEY, readFileSync(forged, 'utf8'))).toThrow(/another key/);
      expect(edited.stderr).not.toMatch(/\n\s+at /);
    });

    it('`audit reseal` brings a trail from before the keyed chain under the key, once, and only an intact one', { timeout: 180_000 }, async () => {
      const saved = await snapshotTrail(db);
      // What the version before the keyed chain wrote: the same entries, with plain links.
      await rebuildChain(db, { plain: true });
      // The first start after the upgrade appends keyed entries after them, and re-seals nothing.
      const rt = await openRuntime(config, { protocols: PROTOCOLS });
      try {
        await rt.credentials.create({ type: 'est', products: '*' }, CLI_CONTEXT);
      } finally {
        await rt.close();
      }
      expect(await verifyHere()).toMatchObject({ ok: false, broken: { kind: 'unkeyed', seq: 1 } });

      // Broken under the plain hash: nothing is re-sealed.
      const legacy = await snapshotTrail(db);
      await exec(`update audit_log set target = 'forged' where seq = 3`);
      const refused = cli(['audit', 'reseal', '--json']);
      expect(refused.code).toBe(1);
      expect(refused.json()).toEqual({ state: 'broken', resealed: 0 });
      expect((await verifyHere()).ok).toBe(false);
      await restoreTrail(db, legacy);

      const resealed = cli(['audit', 'reseal', '--json']);
      expect(resealed.code, resealed.stderr).toBe(0);
      expect(resealed.json()).toEqual({ state: 'legacy', resealed: saved.length + 1 });
      expect(await verifyHere()).toMatchObject({ ok: true, entries: saved.length + 2 });
      const [last] = (await rows('select action, actor, detail from audit_log order by seq desc limit 1')) as [{ action: string; actor: string; detail: string }];
      expect(last).toMatchObject({ action: AUDIT.auditChainKeyed, actor: 'cli' });
      expect(JSON.parse(last.detail)).toMatchObject({ resealed: saved.length + 1, unkeyed: saved.length, head_before: { seq: saved.length + 1 } });
      const again = await openStore({ ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}), sqlitePath: join(dir, 'certgate.db'), chainKey: KEY });
      try {
        expect(await again.audit.upgradeChain()).toEqual({ state: 'keyed', resealed: 0 });
      } finally {
        await again.close();
      }
    });

    it('start-up stops, with a clear message, on a master key that is not the deployment\'s, or none', { timeout: 120_000 }, async () => {
      const wrong = cli(['ca', 'list', '--json'], { CERTGATE_MASTER_KEY: 'not-the-master-key-of-this-one-0' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/master key in CERTGATE_MASTER_KEY is not the one .* was created with: the key of CA ".+" does not open with it/);
      expect(wrong.stderr).not.toMatch(/\n\s+at /);
      const none = cli(['ca', 'list', '--json'], { CERTGATE_MASTER_KEY: '' });
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(config.databaseUrl ? /CERTGATE_MASTER_KEY \(masterKey\): required when DATABASE_URL is set/ : /holds an existing deployment .* but no master key was given/);
      // Nothing was made up in its place.
      expect(existsSync(join(dir, 'master.key'))).toBe(false);
    });

    it('commits an entry with its change or neither: a process killed between them leaves neither', async () => {
      const rt = await openRuntime(config, { protocols: PROTOCOLS });
      let id: string;
      let before: number;
      try {
        id = (await rt.credentials.create({ type: 'est', products: '*' }, CLI_CONTEXT)).credential.id;
        before = (await rt.store.audit.list({}, { limit: 1, offset: 0 })).total;
      } finally {
        await rt.close();
      }
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/auditKill.ts')], {
        cwd: root,
        env: { ...process.env, CREDENTIAL_ID: id, ...(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : { SQLITE_PATH: join(dir, 'certgate.db') }) },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
      expect(signal).toBe('SIGKILL');

      const store = await openStore({ ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}), sqlitePath: join(dir, 'certgate.db'), chainKey: KEY });
      try {
        expect((await store.credentials.get(id))?.revokedAt).toBeNull();
        expect((await store.audit.list({}, { limit: 1, offset: 0 })).total).toBe(before);
        expect((await store.audit.list({ action: AUDIT.credentialRevoke, target: id }, { limit: 1, offset: 0 })).total).toBe(0);
        expect(await store.audit.verify()).toMatchObject({ ok: true, entries: before });
      } finally {
        await store.close();
      }
    });
  });
}
