// A protocol brings its own kind of credential without a change to the core: a fake protocol here
// registers one, and its credentials are created, shown again, presented and refused like the four
// built-in kinds. Time is the service's injected clock, moved instead of waited for.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialKind } from '../src/auth/credentialKinds.js';
import { CredentialService } from '../src/auth/credentialService.js';
import { SecretBox } from '../src/auth/envelope.js';
import { secretMatches, storedSecret } from '../src/auth/secrets.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { loadConfig } from '../src/config.js';
import type { ProtocolModule } from '../src/core/protocol.js';
import { rekeyDeployment } from '../src/core/rekey.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { tempDir } from './helpers/openssl.js';

declare module '../src/auth/credentialKinds.js' {
  interface PresentedCredentials {
    /** The fake protocol's clients send `<name>:<token>`. */
    'test-token': { name: string; token: string };
  }
}

const MASTER_KEY = 'test-master-key-kinds-0123456789';
const CONTEXT = { protocol: 'test-token', sourceIp: '192.0.2.7' };

const testTokenKind: CredentialKind<'test-token'> = {
  type: 'test-token',
  storage: 'sealed',
  newSecret: () => {
    const token = randomBytes(12).toString('hex');
    return { shown: `tt-${token}`, secret: token };
  },
  claimedIdentity: ({ name }) => `test-token:${name}`,
  claimedBy: ({ name }) => `test-token-name:${name}`,
  async resolve({ name, token }, lookup) {
    const credential = await lookup.liveByName(name);
    if (!credential) return { reason: 'unknown' };
    return lookup.secretMatches(credential, token.replace(/^tt-/, '')) ? { credential } : { reason: 'wrongSecret', credential };
  },
};

const testTokenProtocol: ProtocolModule = { name: 'test-token', credentialKind: testTokenKind, mount: () => ({}) };

describe('a credential kind a protocol registers', () => {
  let rt: Runtime;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig({ env: {}, overrides: { dataDir: tempDir('certgate-kinds-'), masterKey: MASTER_KEY, logLevel: 'silent' } }), { protocols: [testTokenProtocol] });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('is created, shown again (sealed), presented and refused through the one core check', async () => {
    expect(rt.credentials.types).toEqual(['test-token']);
    const { credential, secret } = await rt.credentials.create({ type: 'test-token', name: 'device-1', products: '*' }, CLI_CONTEXT);
    expect(credential).toMatchObject({ type: 'test-token', name: 'device-1', permissions: [], admin: false });
    expect(secret).toMatch(/^tt-[0-9a-f]{24}$/);
    expect(credential.secret).not.toContain(secret.slice(3));
    expect(rt.credentials.revealSecret(credential)).toBe(secret.slice(3));

    const ok = await rt.credentials.authenticate({ type: 'test-token', name: 'device-1', token: secret }, CONTEXT);
    expect(ok).toEqual({ ok: true, credential: expect.objectContaining({ id: credential.id }) });

    const wrong = await rt.credentials.authenticate({ type: 'test-token', name: 'device-1', token: `${secret}0` }, CONTEXT);
    expect(wrong).toEqual({ ok: false, reason: 'wrongSecret', message: 'invalid credential' });
    const stranger = await rt.credentials.authenticate({ type: 'test-token', name: 'nobody', token: secret }, CONTEXT);
    expect(stranger).toEqual({ ok: false, reason: 'unknown', message: 'invalid credential' });

    // Refusals name the credential when it is known, else what the kind says was claimed.
    const refusals = (await rt.store.audit.after(0, 1000)).filter((e) => e.action === 'auth.refused');
    expect(refusals.map((e) => [e.target, (e.detail as { reason: string }).reason, (e.detail as { presented: string }).presented])).toEqual([
      [credential.id, 'wrongSecret', 'test-token'],
      ['test-token-name:nobody', 'unknown', 'test-token'],
    ]);
  });

  it('refuses a type no protocol registered, naming the known ones', async () => {
    await expect(rt.credentials.create({ type: 'rest', products: '*', admin: true }, CLI_CONTEXT)).rejects.toThrow('type: unknown credential type "rest"; known: test-token');
  });

  // Last: it moves the deployment to another master key.
  it('is resealed by a master-key rotation, which stops at a type no registered protocol brings', async () => {
    const newKey = 'test-master-key-kinds-rotated-01';
    const rotate = (protocols: ProtocolModule[]) => rekeyDeployment({ store: rt.store, oldKey: MASTER_KEY, newKey, protocols, newKeySource: 'the test' });
    await expect(rotate([])).rejects.toThrow('credentials of type test-token belong to no registered protocol');
    const { counts } = await rotate([testTokenProtocol]);
    expect(counts.credential_secrets).toBe(1);
    const [credential] = (await rt.store.credentials.list({ type: 'test-token' }, { limit: 10, offset: 0 })).credentials;
    expect(new SecretBox(newKey).open(credential?.secret as string, credential?.id as string)).toMatch(/^[0-9a-f]{24}$/);
    expect(new SecretBox(MASTER_KEY).open(credential?.secret as string, credential?.id as string)).toBeNull();
  });
});

describe('the injected clock', () => {
  let rt: Runtime;
  let now = Date.parse('2030-01-01T00:00:00Z');
  let credentials: CredentialService;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig({ env: {}, overrides: { dataDir: tempDir('certgate-kinds-clock-'), masterKey: MASTER_KEY, logLevel: 'silent' } }), { protocols: [testTokenProtocol] });
    credentials = new CredentialService(rt.store, { masterKey: MASTER_KEY, tokenTtlSeconds: 60, kinds: [testTokenKind], cacheMs: 1000, now: () => now });
  });
  afterAll(async () => {
    await credentials?.close();
    await rt?.close();
  });

  it('ends expiry and grace windows when the clock says, not the wall clock', async () => {
    const { credential, secret } = await credentials.create({ type: 'test-token', name: 'clocked', products: '*', expiresAt: new Date(now + 3_600_000) }, CLI_CONTEXT);
    const present = (token: string) => credentials.authenticate({ type: 'test-token', name: 'clocked', token }, CONTEXT);
    expect((await present(secret)).ok).toBe(true);

    const rotated = await credentials.rotate(credential.id, 60, CLI_CONTEXT);
    expect((await present(secret)).ok).toBe(true);
    expect((await present(rotated.secret)).ok).toBe(true);
    now += 61_000;
    expect(await present(secret)).toMatchObject({ ok: false, reason: 'wrongSecret' });
    expect((await present(rotated.secret)).ok).toBe(true);

    now += 3_600_000;
    expect(await present(rotated.secret)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses an expiry in the past by the clock', async () => {
    await expect(credentials.create({ type: 'test-token', products: '*', expiresAt: new Date(now - 1) }, CLI_CONTEXT)).rejects.toThrow(/expiresAt/);
  });
});

describe('stored secrets', () => {
  const box = new SecretBox(MASTER_KEY);

  it('match the secret they were made from and nothing else, hashed or sealed', () => {
    fc.assert(
      fc.property(fc.constantFrom('hashed' as const, 'sealed' as const), fc.string(), fc.string(), (storage, secret, other) => {
        const stored = storedSecret(storage, secret, 'c1', box);
        expect(secretMatches(storage, stored, secret, 'c1', box)).toBe(true);
        expect(secretMatches(storage, stored, other, 'c1', box)).toBe(other === secret);
      }),
      { numRuns: 300 },
    );
  });

  it('do not open for another credential when sealed', () => {
    const stored = storedSecret('sealed', 'challenge', 'c1', box);
    expect(secretMatches('sealed', stored, 'challenge', 'c2', box)).toBe(false);
  });
});
