// `certgate credential …` and `certgate audit …` as an operator runs them: separate processes,
// JSON output, exit codes.
import { beforeAll, describe, expect, it } from 'vitest';
import { certgate } from './helpers/certgateCli.js';
import { tempDir } from './helpers/openssl.js';

describe('certgate credential and audit commands', () => {
  const dir = tempDir();
  let productId: string;

  beforeAll(() => {
    const init = certgate(dir, ['init', '--json']);
    expect(init.code, init.stderr).toBe(0);
    productId = init.json().product_id as string;
  });

  it('creates each type, prints its secret once as its protocol names it, and lists them', () => {
    const made: Record<string, Record<string, unknown>> = {};
    for (const type of ['rest', 'acme', 'est', 'scep', 'cmp']) {
      const r = certgate(dir, ['credential', 'create', '--type', type, '--product', 'default', '--name', `${type}-one`, '--owner-user', 'alice', '--owner-group', 'netops', '--expires-in-days', '30', '--allow-ip', '10.0.0.0/8', '--allow-ip', '2001:db8::/32', '--json']);
      expect(r.code, r.stderr).toBe(0);
      made[type] = r.json();
      expect(made[type]).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{16}$/), type, name: `${type}-one`, secret: expect.any(String), products: [productId], owner_user: 'alice', owner_group: 'netops', allow_ips: ['10.0.0.0/8', '2001:db8::/32'] });
    }
    expect(made.rest?.api_key).toBe(made.rest?.secret);
    expect(made.rest?.permissions).toEqual([{ ca: expect.any(String), actions: ['read', 'issue'] }]);
    expect(made.acme).toMatchObject({ kid: made.acme?.id, hmac_key: made.acme?.secret });
    expect(made.est).toMatchObject({ username: 'est-one', password: made.est?.secret });
    expect(made.scep).toMatchObject({ challenge: made.scep?.secret });
    expect(made.cmp).toMatchObject({ reference: 'cmp-one' });
    expect(made.cmp).not.toHaveProperty('challenge');

    const human = certgate(dir, ['credential', 'create', '--type', 'acme', '--product', '*']);
    expect(human.stdout).toMatch(/EAB key id: [0-9a-f]{16}/);
    expect(human.stdout).toMatch(/shown once; stored encrypted under the master key/);

    const est = certgate(dir, ['credential', 'list', '--type', 'est', '--json']).json() as unknown as Record<string, unknown>[];
    expect(est).toEqual([expect.objectContaining({ id: made.est?.id, status: 'active' })]);
    expect(JSON.stringify(est)).not.toContain(made.est?.secret as string);

    const rotated = certgate(dir, ['credential', 'rotate', made.scep?.id as string, '--grace-seconds', '60', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json().secret).not.toBe(made.scep?.secret);
    expect(rotated.json().previous_secret_valid_until).toEqual(expect.any(String));

    expect(certgate(dir, ['credential', 'revoke', made.rest?.id as string, '--json']).json().status).toBe('revoked');
    const again = certgate(dir, ['credential', 'revoke', made.rest?.id as string]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no live credential/);
    const revoked = certgate(dir, ['credential', 'list', '--status', 'revoked', '--json']).json() as unknown as { id: string }[];
    expect(revoked.map((c) => c.id)).toEqual([made.rest?.id]);
  }, 180_000);

  it('refuses bad input with the option named', () => {
    expect(certgate(dir, ['credential', 'create', '--type', 'est', '--product', 'nope']).stderr).toMatch(/products: unknown product/);
    expect(certgate(dir, ['credential', 'create', '--type', 'est']).stderr).toMatch(/--product/);
    expect(certgate(dir, ['credential', 'create', '--type', 'est', '--product', '*', '--allow-ip', '300.1.1.1']).stderr).toMatch(/allowIps\[0\]/);
    const ssh = certgate(dir, ['credential', 'create', '--type', 'ssh', '--product', '*']);
    expect(ssh.code).toBe(1);
    expect(ssh.stderr).toMatch(/type: unknown credential type "ssh"; known: scep, rest, acme, est, cmp/);
    expect(certgate(dir, ['credential', 'list', '--type', 'ssh']).stderr).toMatch(/--type: unknown credential type "ssh"; known: scep, rest, acme, est, cmp/);
  }, 120_000);

  it('keeps the apikey commands as aliases of --type rest', () => {
    const key = certgate(dir, ['apikey', 'create', '--name', 'pipeline', '--permission', 'read:*', '--json']);
    expect(key.code, key.stderr).toBe(0);
    expect(key.json()).toMatchObject({ type: 'rest', name: 'pipeline', products: '*', api_key: expect.stringMatching(/^cg_/) });
    const rest = certgate(dir, ['credential', 'list', '--type', 'rest', '--json']).json() as unknown as { name: string }[];
    expect(rest.map((c) => c.name)).toContain('pipeline');
    expect(certgate(dir, ['apikey', 'revoke', key.json().id as string]).code).toBe(0);
  });

  it('scopes a credential to its own requests (--scope own) and lets a product relax four eyes (--self-approval)', () => {
    const own = certgate(dir, ['credential', 'create', '--type', 'rest', '--product', 'default', '--scope', 'own', '--json']);
    expect(own.code, own.stderr).toBe(0);
    expect(own.json().scope).toBe('own');
    expect(certgate(dir, ['credential', 'create', '--type', 'rest', '--product', 'default', '--scope', 'mine']).code).toBe(1);
    const caId = (certgate(dir, ['product', 'list', '--json']).json() as unknown as { ca_id: string }[])[0]?.ca_id as string;
    const relaxed = certgate(dir, ['product', 'create', '--name', 'self-approved', '--ca', caId, '--requires-approval', '--self-approval', '--json']);
    expect(relaxed.code, relaxed.stderr).toBe(0);
    expect(relaxed.json().template).toMatchObject({ requiresApproval: true, selfApproval: true });
  }, 120_000);

  it('lists, exports and verifies the audit trail of all that', () => {
    const listed = certgate(dir, ['audit', 'list', '--action', 'credential.create', '--json']).json() as { entries: { actor: string; action: string }[]; total: number };
    // init's admin key, the five of the first test, the one printed for a person, the API key, the own-scoped key.
    expect(listed.total).toBe(9);
    expect(listed.entries.every((e) => e.action === 'credential.create' && e.actor === 'cli')).toBe(true);

    const lines = certgate(dir, ['audit', 'export', '--since', '2000-01-01T00:00:00Z']).stdout.trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as { seq: number; action: string; prev_hash: string; hash: string });
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    entries.slice(1).forEach((e, i) => expect(e.prev_hash).toBe(entries[i]?.hash));
    expect(new Set(entries.map((e) => e.action))).toEqual(new Set(['ca.create', 'product.create', 'credential.create', 'credential.rotate', 'credential.revoke']));
    expect(certgate(dir, ['audit', 'export', '--since', '2999-01-01T00:00:00Z']).stdout).toBe('');

    const verify = certgate(dir, ['audit', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`intact: ${entries.length} entries`));
  });
});
