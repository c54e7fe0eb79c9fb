// ACME end to end with acme-client (the card's ACME library): every challenge type answered by the
// test's own responders, with RSA-2048, P-256 and P-384 account keys, each certificate checked
// with openssl against certgate's chain; a wildcard over dns-01; key change (RFC 8555 §7.3.5),
// account and authorization deactivation; ARI (RFC 9773).
import { createPublicKey, X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeyFromPem, ACME_ERROR, AcmeTestClient, newAccountKey, splitPem, type OrderJson } from './helpers/acmeClient.js';
import { startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { openssl, opensslVerify } from './helpers/openssl.js';

type KeyKind = 'RSA-2048' | 'P-256' | 'P-384';
type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

const accountKeyOf = (kind: KeyKind): Promise<Buffer> => (kind === 'RSA-2048' ? acme.crypto.createPrivateRsaKey(2048) : acme.crypto.createPrivateEcdsaKey(kind));

/** The ARI certificate id (RFC 9773 §4.1), computed from the certificate alone. */
function ariCertId(leafPem: string): string {
  const text = openssl(['x509', '-noout', '-ext', 'authorityKeyIdentifier'], leafPem);
  const akiHex = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/i.exec(text)?.[1];
  if (!akiHex) throw new Error(`no authorityKeyIdentifier in ${text}`);
  const aki = Buffer.from(akiHex.replace(/:/g, ''), 'hex');
  const hex = new X509Certificate(leafPem).serialNumber;
  let serial = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  // DER INTEGER content: a leading 00 when the top bit is set, none otherwise.
  while (serial.length > 1 && serial[0] === 0 && ((serial[1] as number) & 0x80) === 0) serial = serial.subarray(1);
  if (((serial[0] as number) & 0x80) !== 0) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${aki.toString('base64url')}.${serial.toString('base64url')}`;
}

describe('ACME with acme-client (embedded)', () => {
  let env: AcmeEnv;
  /** dns-01 TXT values by name: two authorizations (a wildcard and its base) share one name. */
  const txt = new Map<string, Set<string>>();

  const client = (accountKey: Buffer | string, extra: Partial<acme.ClientOptions> = {}) =>
    new acme.Client({ directoryUrl: env.directoryUrl, accountKey, backoffMin: 100, backoffMax: 500, backoffAttempts: 40, ...extra });

  const create = async (authz: acme.Authorization, challenge: { type: string; token: string }, keyAuthorization: string): Promise<void> => {
    const name = authz.identifier.value;
    if (challenge.type === 'http-01') env.http01.set(challenge.token, keyAuthorization);
    else if (challenge.type === 'tls-alpn-01') env.tlsAlpn.set(name, keyAuthorization);
    else {
      const at = `_acme-challenge.${name}`;
      const values = txt.get(at) ?? new Set<string>();
      values.add(keyAuthorization);
      txt.set(at, values);
      env.dns.setTxt(at, [...values]);
    }
  };
  const remove = async (authz: acme.Authorization, challenge: { type: string; token: string }, keyAuthorization: string): Promise<void> => {
    if (challenge.type === 'http-01') env.http01.unset(challenge.token);
    else if (challenge.type === 'dns-01') {
      const at = `_acme-challenge.${authz.identifier.value}`;
      txt.get(at)?.delete(keyAuthorization);
      env.dns.setTxt(at, [...(txt.get(at) ?? [])]);
    }
  };

  /** acme-client's auto flow; returns the chain and checks it against certgate's CAs. */
  const obtain = async (c: acme.Client, names: string[], type: ChallengeType, csrKey?: Buffer) => {
    const [key, csr] = await acme.crypto.createCsr({ commonName: names[0] as string, altNames: names }, csrKey);
    const pem = await c.auto({ csr, termsOfServiceAgreed: true, email: 'ops@example.test', challengePriority: [type], skipChallengeVerification: true, challengeCreateFn: create, challengeRemoveFn: remove });
    const chain = splitPem(pem);
    const leaf = chain[0] as string;
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leaf)).toMatch(/: OK/);
    // The download is the leaf, then the chain up to (and with) the root.
    expect(chain).toHaveLength(3);
    expect(new X509Certificate(chain[1] as string).raw.equals(new X509Certificate(env.issuingPem).raw)).toBe(true);
    expect(new X509Certificate(chain[2] as string).raw.equals(new X509Certificate(env.rootPem).raw)).toBe(true);
    const cert = new X509Certificate(leaf);
    // The certificate is for the CSR's key.
    expect(cert.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(key).export({ format: 'der', type: 'spki' }))).toBe(true);
    return { pem, leaf, cert };
  };

  beforeAll(async () => {
    env = await startAcmeEnv();
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('obtains a certificate over http-01 with a P-256 account key', async () => {
    const c = client(await acme.crypto.createPrivateEcdsaKey('P-256'));
    const { cert } = await obtain(c, ['host1.test', 'www.host1.test'], 'http-01');
    expect(cert.subjectAltName).toBe('DNS:host1.test, DNS:www.host1.test');
  });

  const matrix: Array<[ChallengeType, KeyKind]> = [];
  for (const type of ['http-01', 'dns-01', 'tls-alpn-01'] as const) for (const key of ['RSA-2048', 'P-256', 'P-384'] as const) matrix.push([type, key]);

  it.each(matrix)('obtains a certificate over %s with an %s account key, with the names asked for', async (type, keyKind) => {
    const c = client(await accountKeyOf(keyKind));
    const tag = `${type}-${keyKind}`.toLowerCase();
    const names = [`${tag}.test`, `www.${tag}.test`];
    // The certificate's own key varies too: the CSR key types the product takes.
    const csrKey = keyKind === 'RSA-2048' ? await acme.crypto.createPrivateEcdsaKey('P-384') : keyKind === 'P-256' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey('P-256');
    const { cert } = await obtain(c, names, type, csrKey);
    expect(cert.subjectAltName).toBe(names.map((n) => `DNS:${n}`).join(', '));
    expect(cert.subject).toBe(`CN=${names[0]}`);
  });

  it('obtains a wildcard certificate over dns-01 (and the wildcard offers no other challenge)', async () => {
    const c = client(await acme.crypto.createPrivateEcdsaKey('P-256'));
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: '*.wild.test' }] });
    const [authz] = await c.getAuthorizations(order);
    expect(authz?.wildcard).toBe(true);
    expect(authz?.identifier).toEqual({ type: 'dns', value: 'wild.test' });
    expect(authz?.challenges.map((ch) => ch.type)).toEqual(['dns-01']);

    const { cert } = await obtain(c, ['*.wild.test', 'wild.test'], 'dns-01');
    expect(cert.subjectAltName).toBe('DNS:*.wild.test, DNS:wild.test');
    expect(env.dns.queries.some((q) => q.name === '_acme-challenge.wild.test' && q.type === 16)).toBe(true);
  });

  describe('key change (RFC 8555 §7.3.5)', () => {
    it('rolls the account key with updateAccountKey: the old key is refused, the new one works', async () => {
      const oldKey = await acme.crypto.createPrivateEcdsaKey('P-256');
      const newKey = await acme.crypto.createPrivateRsaKey(2048);
      const c = client(oldKey);
      await c.createAccount({ termsOfServiceAgreed: true });
      const accountUrl = c.getAccountUrl();

      const result = await c.updateAccountKey(newKey);
      expect(result.status).toBe('valid');

      // The same client, now on the new key, gets a certificate.
      await obtain(c, ['rolled.test'], 'http-01');

      // The new key finds the account; the old one finds none, and may not sign for it.
      const byNew = new AcmeTestClient(env.directoryUrl, await accountKeyFromPem(newKey), env.transport);
      const found = await byNew.newAccount({ onlyReturnExisting: true });
      expect(found.status).toBe(200);
      expect(found.header('location')).toBe(accountUrl);

      const byOld = new AcmeTestClient(env.directoryUrl, await accountKeyFromPem(oldKey), env.transport);
      const lost = await byOld.newAccount({ onlyReturnExisting: true });
      expect(lost.status).toBe(400);
      expect(lost.json.type).toBe(ACME_ERROR('accountDoesNotExist'));
      byOld.kid = accountUrl;
      const refused = await byOld.newOrder(['rolled.test']);
      // The account's key is the new one now: the old key's signature does not verify.
      expect(refused.status, refused.text).toBe(400);
      expect(refused.problem).toMatchObject({ type: ACME_ERROR('malformed'), detail: 'the JWS signature does not verify' });
      expect(refused.contentType).toMatch(/^application\/problem\+json/);

      await expect(client(oldKey, { accountUrl }).createOrder({ identifiers: [{ type: 'dns', value: 'rolled.test' }] })).rejects.toThrow();
    });

    it('refuses a new key that another account holds: 409 with that account in Location', async () => {
      const a = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      const b = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES384'), env.transport);
      expect((await a.newAccount()).status).toBe(201);
      expect((await b.newAccount()).status).toBe(201);
      const keyChange = (await a.directory()).keyChange;
      // Inner JWS signed by the "new" key (b's), naming a's account and a's current key.
      const inner = await b.sign(keyChange, { account: a.kid, oldKey: a.key.jwk }, { useJwk: true, header: { nonce: undefined } });
      const res = await a.post(keyChange, inner);
      expect(res.status).toBe(409);
      expect(res.header('location')).toBe(b.kid);
      expect(res.contentType).toMatch(/^application\/problem\+json/);
    });
  });

  describe('deactivation', () => {
    it('deactivates an account (RFC 8555 §7.3.6): later requests get 401 unauthorized', async () => {
      const key = await acme.crypto.createPrivateEcdsaKey('P-384');
      const c = client(key);
      await c.createAccount({ termsOfServiceAgreed: true });
      const accountUrl = c.getAccountUrl();
      const deactivated = await c.updateAccount({ status: 'deactivated' });
      expect(deactivated.status).toBe('deactivated');

      await expect(c.createOrder({ identifiers: [{ type: 'dns', value: 'gone.test' }] })).rejects.toThrow();
      const raw = new AcmeTestClient(env.directoryUrl, await accountKeyFromPem(key), env.transport);
      raw.kid = accountUrl;
      const res = await raw.newOrder(['gone.test']);
      expect(res.problem.type).toBe(ACME_ERROR('unauthorized'));
      // "it MUST return an error response with status code 401 (Unauthorized)" (§7.3.6)
      expect(res.status).toBe(401);
    });

    it('deactivates an authorization (RFC 8555 §7.5.2): it stays deactivated and its order turns invalid', async () => {
      const c = client(await acme.crypto.createPrivateEcdsaKey('P-256'));
      await c.createAccount({ termsOfServiceAgreed: true });
      const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'deact.test' }] });
      const [authz] = await c.getAuthorizations(order);
      const result = await c.deactivateAuthorization(authz as acme.Authorization);
      expect(result.status).toBe('deactivated');
      const again = await c.getAuthorizations(order);
      expect(again[0]?.status).toBe('deactivated');
      const after = await c.getOrder(order);
      expect(after.status).toBe('invalid');
      // A challenge of a deactivated authorization starts no validation.
      const challenge = (authz as acme.Authorization).challenges.find((ch) => ch.type === 'http-01') as acme.Authorization['challenges'][number];
      const answered = await c.completeChallenge(challenge);
      expect(answered.status).toBe('pending');
    });
  });

  describe('ARI (RFC 9773)', () => {
    let owner: acme.Client;
    let leaf: string;
    let certId: string;
    let renewalInfo: string;

    beforeAll(async () => {
      owner = client(await acme.crypto.createPrivateEcdsaKey('P-256'));
      ({ leaf } = await obtain(owner, ['ari.test', 'www.ari.test'], 'http-01'));
      certId = ariCertId(leaf);
      renewalInfo = (await env.getJson<{ renewalInfo?: string }>(env.directoryUrl)).json.renewalInfo as string;
    });

    it('lists renewalInfo in the directory and suggests a window inside the validity', async () => {
      expect(renewalInfo).toBe(`${env.acmeBase}/acme/renewal-info`);
      const res = await env.getJson<{ suggestedWindow: { start: string; end: string } }>(`${renewalInfo}/${certId}`);
      expect(res.status).toBe(200);
      expect(res.raw.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
      const { suggestedWindow } = res.json;
      const cert = new X509Certificate(leaf);
      const start = Date.parse(suggestedWindow.start);
      const end = Date.parse(suggestedWindow.end);
      expect(start).toBeLessThan(end);
      expect(start).toBeGreaterThanOrEqual(Date.parse(cert.validFrom));
      expect(end).toBeLessThanOrEqual(Date.parse(cert.validTo));
    });

    it('answers 404 for a certificate id it did not issue', async () => {
      const [aki] = certId.split('.');
      const res = await env.getJson(`${renewalInfo}/${aki}.${Buffer.from('no such serial').toString('base64url')}`);
      expect(res.status).toBe(404);
    });

    it("accepts a newOrder that replaces the account's certificate, and refuses another account's", async () => {
      const request = { identifiers: [{ type: 'dns', value: 'ari.test' }, { type: 'dns', value: 'www.ari.test' }], replaces: certId };
      const order = (await owner.createOrder(request as Parameters<acme.Client['createOrder']>[0])) as acme.Order & { replaces?: string };
      // The account proved these names for the certificate it replaces: the domain registry holds
      // those validations, so the replacement is ready at once (README: validations shared with the registry).
      expect(order.status).toBe('ready');
      expect(order.replaces).toBe(certId);

      const stranger = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await stranger.newAccount()).status).toBe(201);
      const refused = await stranger.newOrder(['ari.test'], { replaces: certId });
      expect(refused.status, refused.text).toBe(400);
      expect(refused.problem).toMatchObject({ type: ACME_ERROR('malformed'), detail: 'replaces names no certificate of this account' });
    });

    it('refuses to replace a certificate twice: 409 alreadyReplaced (RFC 9773 §5)', async () => {
      const raw = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await raw.newAccount()).status).toBe(201);
      const { chainPem } = await raw.issue(['twice.test'], 'http-01', (ch, ka) => env.http01.set(ch.token, ka));
      const id = ariCertId(splitPem(chainPem)[0] as string);
      const first = await raw.newOrder(['twice.test'], { replaces: id });
      expect(first.status).toBe(201);
      expect((first.json as OrderJson).replaces).toBe(id);
      // The first replacement order is pending (not invalid): the certificate is marked replaced.
      const second = await raw.newOrder(['twice.test'], { replaces: id });
      expect(second.problem.type).toBe(ACME_ERROR('alreadyReplaced'));
      expect(second.status).toBe(409);
    });
  });
});
