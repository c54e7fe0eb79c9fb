// Certificates the gateway issues to itself go through the core's signer: the gateway's TLS
// certificate is in the inventory under the CA's system product, audited, and once revoked it is
// in the CRL and OCSP answers "revoked" like for any certificate of ours. The system product is
// reserved: operators cannot take its name, and the product list leaves it out.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOLS } from '../protocols/index.js';
import { createOcspResponder } from '../protocols/status/index.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { systemProductId } from '../src/core/systemProducts.js';
import type { CaRecord } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { encodeName } from '../src/pki/name.js';
import { OID } from '../src/pki/oids.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { ensureTlsCertificate } from '../src/tlsCertificate.js';
import { openssl, opensslVerify, tempDir } from './helpers/openssl.js';
import { testConfig } from './helpers/gateway.js';

const dir = tempDir('certgate-system-signer-');
let rt: Runtime;
let root: CaRecord;
let issuing: CaRecord;

beforeAll(async () => {
  rt = await openRuntime(testConfig({ dataDir: dir }), {
    protocols: PROTOCOLS,
  });
  const init = await initialize(rt);
  root = init.root as CaRecord;
  issuing = init.issuing as CaRecord;
});
afterAll(async () => {
  await rt?.close();
});

describe('the system signer', () => {
  it("records the gateway's TLS certificate under the system product, audits it, and serves its revocation in the CRL and OCSP", async () => {
    const tls = await ensureTlsCertificate(rt);
    const cert = new X509Certificate(tls?.certPem as string);
    expect(opensslVerify(dir, root.certificatePem, issuing.certificatePem, cert.toString())).toMatch(/: OK/);
    const serialHex = cert.serialNumber.toLowerCase();

    const record = await rt.core.queries.certificateBySerial(issuing.id, serialHex);
    expect(record?.productId).toBe(systemProductId(issuing.id));
    expect(record?.sanDns).toContain('localhost');
    const inventory = await rt.core.queries.inventoryList({ caIds: [issuing.id], includeImported: false }, { limit: 50, offset: 0 });
    expect(inventory.certificates.map((c) => c.id)).toContain(record?.id);
    const audit = await rt.core.audit.list({ action: 'certificate.system_issued', target: record?.id as string }, { limit: 5, offset: 0 });
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({ actor: 'system', outcome: 'success', detail: { purpose: 'gateway-tls', serial: serialHex, ca: issuing.id } });
    // The product it is recorded under was made (and audited) by the signer, and is nobody's to list.
    expect((await rt.core.audit.list({ action: 'product.create', target: systemProductId(issuing.id) }, { limit: 5, offset: 0 })).total).toBe(1);
    expect((await rt.core.queries.productList()).map((p) => p.id)).not.toContain(systemProductId(issuing.id));

    await rt.revocations.revoke(record?.id as string, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
    const crl = await rt.crls.publish(issuing.id);
    writeFileSync(join(dir, 'crl.der'), crl.der);
    expect(openssl(['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-noout', '-text'])).toContain(serialHex.toUpperCase());

    writeFileSync(join(dir, 'issuing.pem'), issuing.certificatePem);
    openssl(['ocsp', '-issuer', join(dir, 'issuing.pem'), '-serial', `0x${serialHex}`, '-no_nonce', '-reqout', join(dir, 'req.der')]);
    const answer = await createOcspResponder(rt.protocolCore('status')).respond(readFileSync(join(dir, 'req.der')));
    writeFileSync(join(dir, 'resp.der'), answer);
    const text = openssl(['ocsp', '-respin', join(dir, 'resp.der'), '-resp_text', '-noverify']);
    expect(text).toMatch(/Cert Status: revoked/);
  });

  it("gives a front-end only its purposes' profiles: no TLS certificate, no names", async () => {
    const signer = rt.protocolCore('scep').signer;
    const request = {
      caId: issuing.id,
      commonName: 'bank.test',
      subjectDer: encodeName([{ type: OID.commonName, value: 'bank.test' }]),
      publicKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      san: { dns: ['bank.test'], ip: [], email: [], uri: [] },
    };
    const issued = async () => (await rt.core.queries.inventoryList({ caIds: [issuing.id], includeImported: false }, { limit: 1, offset: 0 })).total;
    const before = await issued();
    await expect(signer.issue({ ...request, purpose: 'gateway-tls' })).rejects.toThrow(/scep may not issue a gateway-tls certificate/);
    await expect(signer.issue({ ...request, purpose: 'scep-ra' })).rejects.toThrow(/carries no names/);
    expect(await issued()).toBe(before);
  });

  it('refuses an operator product named like a system product', async () => {
    await expect(createProduct(rt.store, { name: `system:${issuing.id}`, caId: issuing.id, template: parseProductTemplate({}) }, CLI_CONTEXT)).rejects.toThrow(/reserved/);
  });
});
