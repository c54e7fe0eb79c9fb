// Which CA issues the SCEP RA of a product: its own CA when certgate signs with it; for a CA that
// cannot (an upstream ACME CA), the CA CERTGATE_SCEP_RA_CA names, and a refusal in words (409)
// when the setting is missing, names no CA, or names another CA that cannot sign either. The
// Pebble acceptance test (upstream.clients.test.ts) shows the RA it gets working with real clients.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaIssuers } from '../protocols/scep/raIssuer.js';
import { AUDIT } from '../src/audit/actions.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { AppError } from '../src/core/errors.js';
import type { CaRecord } from '../src/core/types.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';

function record(name: string, backend: CaRecord['backend']): CaRecord {
  const now = new Date();
  return {
    id: randomUUID(),
    name,
    kind: 'issuing',
    parentId: null,
    keyAlgorithm: 'ec-p256',
    subject: `CN=${name}`,
    certificatePem: '',
    encryptedKey: null,
    backend,
    backendConfig: backend === 'local' ? null : {},
    notBefore: now,
    notAfter: now,
    createdAt: now,
  };
}

describe('the CA that issues a product\'s SCEP RA', () => {
  const local = record('in-house', 'local');
  const token = record('in-hsm', 'pkcs11');
  const upstream = record('public-acme', 'upstream-acme');
  const other = record('other-acme', 'upstream-acme');
  const cas = [local, token, upstream, other];
  const lookup = { caById: async (id: string) => cas.find((c) => c.id === id), caList: async () => cas };
  const refusal = async (p: Promise<unknown>): Promise<string> => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).kind).toBe('conflict');
    return (e as AppError).message;
  };

  it('is the product\'s own CA when certgate signs with it (a key it holds or a token it drives), whatever the setting', async () => {
    const issuers = new RaIssuers(lookup, local.name);
    expect(await issuers.of(local.id)).toBe(local.id);
    expect(await issuers.of(token.id)).toBe(token.id);
  });

  it('is the CA the setting names, by name or by id, for an upstream CA', async () => {
    expect(await new RaIssuers(lookup, local.name).of(upstream.id)).toBe(local.id);
    expect(await new RaIssuers(lookup, token.id).of(upstream.id)).toBe(token.id);
  });

  it('is refused in words when the setting is missing, names no CA, or names a CA that cannot sign either', async () => {
    expect(await refusal(new RaIssuers(lookup, '').of(upstream.id))).toBe(
      'CA "public-acme" is backed by an upstream ACME CA, which cannot issue the SCEP RA certificate: set CERTGATE_SCEP_RA_CA to a CA that certgate signs with',
    );
    expect(await refusal(new RaIssuers(lookup, 'nonesuch').of(upstream.id))).toMatch(/CERTGATE_SCEP_RA_CA names no CA \("nonesuch"\)/);
    expect(await refusal(new RaIssuers(lookup, other.name).of(upstream.id))).toMatch(/neither can CA "other-acme" \(CERTGATE_SCEP_RA_CA\)/);
  });

  it('decides again after a refusal (the operator may create the CA the setting names)', async () => {
    const later = record('created-later', 'local');
    const known = [...cas];
    const issuers = new RaIssuers({ caById: async (id) => known.find((c) => c.id === id), caList: async () => known }, later.name);
    await refusal(issuers.of(upstream.id));
    known.push(later);
    expect(await issuers.of(upstream.id)).toBe(later.id);
  });
});

describe('SCEP under a product on an upstream CA, without CERTGATE_SCEP_RA_CA', () => {
  let env: ScepEnv;
  beforeAll(async () => {
    env = await startScepEnv();
    const ca = record('upstream-without-ra', 'upstream-acme');
    await env.server.rt.store.cas.insert(
      { ...ca, certificatePem: env.issuingPem },
      { ...CLI_CONTEXT, action: AUDIT.caCreate, target: ca.id, outcome: 'success', detail: { name: ca.name, backend: ca.backend } },
    );
    await env.server.rt.store.products.insert(
      { id: randomUUID(), name: 'on-upstream', caId: ca.id, template: (await env.server.rt.store.products.getByName('default'))!.template },
      { ...CLI_CONTEXT, action: AUDIT.productCreate, target: 'on-upstream', outcome: 'success', detail: {} },
    );
    await env.server.rt.catalogue.changed();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('answers GetCACert and PKIOperation with 409 saying what to set, and no certificate is made', async () => {
    const before = (await env.server.rt.store.audit.list({ action: AUDIT.certificateSystemIssue }, { limit: 100, offset: 0 })).entries.length;
    const caCert = await fetch(`${env.base}/scep/on-upstream?operation=GetCACert`);
    expect(caCert.status).toBe(409);
    expect(await caCert.text()).toMatch(/CA "upstream-without-ra" is backed by an upstream ACME CA, which cannot issue the SCEP RA certificate: set CERTGATE_SCEP_RA_CA/);
    const operation = await fetch(`${env.base}/scep/on-upstream?operation=PKIOperation`, { method: 'POST', body: Buffer.from([0x30, 0x00]) });
    expect(operation.status).toBe(409);
    expect((await env.server.rt.store.audit.list({ action: AUDIT.certificateSystemIssue }, { limit: 100, offset: 0 })).entries.length).toBe(before);
    // The capabilities a client reads first do not depend on the CA.
    expect((await fetch(`${env.base}/scep/on-upstream?operation=GetCACaps`)).status).toBe(200);
  });
});
