// ACME (acme-client) under a product whose CA keeps its key in a PKCS#11 token (SoftHSM2), on
// SQLite and on PostgreSQL with Redis: the certificate verifies against the token CA with openssl,
// and a revocation over ACME shows in the OCSP answer the token signs.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPkcs11Ca } from '../src/ca/createPkcs11Ca.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { CaRecord } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { startSoftHsm, type SoftHsm } from './harness/softhsm.js';
import { splitPem } from './helpers/acmeClient.js';
import { acmeClientOf, startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { deploymentMissing } from './helpers/gateway.js';
import { openssl } from './helpers/openssl.js';

const hsm = startSoftHsm();
const PIN = 'acme-pin-8d2k';
const PIN_VAR = 'CERTGATE_TEST_ACME_TOKEN_PIN';

const DEPLOYMENTS = [
  { name: 'SQLite', deployment: {}, skip: false },
  { name: 'PostgreSQL + Redis', deployment: { backend: 'postgres', queue: 'bullmq' } as const, skip: deploymentMissing({ backend: 'postgres', queue: 'bullmq' }) },
];

describe.skipIf(!hsm)('ACME from a CA whose key is in a PKCS#11 token', () => {
  const soft = hsm as SoftHsm;
  afterAll(() => soft?.remove());

  describe.each(DEPLOYMENTS)('$name', ({ name, deployment, skip }) => {
    const token = `acme-${name === 'SQLite' ? 'sqlite' : 'pg'}`;
    let env: AcmeEnv;
    let root: CaRecord;
    let issuing: CaRecord;

    beforeAll(async () => {
      if (skip) return;
      soft.initToken(token, PIN);
      process.env[PIN_VAR] = PIN;
      env = await startAcmeEnv({ deployment });
      const store = env.server.rt.store;
      const choice = { module: soft.module, token, pin: { env: PIN_VAR }, existingKey: false };
      root = await createPkcs11Ca(store, { name: `${token}-root`, keyAlgorithm: 'ec-p384', validityDays: 365 }, env.server.rt.secrets, CLI_CONTEXT, { ...choice, keyLabel: 'root' });
      issuing = await createPkcs11Ca(
        store,
        { name: `${token}-issuing`, keyAlgorithm: 'ec-p256', validityDays: 100, parentId: root.id, parentPointers: env.server.rt.cas.pointersFor(root.id) },
        env.server.rt.secrets,
        CLI_CONTEXT,
        { ...choice, keyLabel: 'issuing' },
      );
      await createProduct(store, { name: 'token-web', caId: issuing.id, template: parseProductTemplate({}) }, CLI_CONTEXT);
      await env.server.rt.catalogue.changed();
    });

    afterAll(async () => {
      await env?.stop();
    });

    it.skipIf(skip)('issues over http-01 and revokes; openssl verifies the chain and reads the revocation from OCSP', async () => {
      const client = acmeClientOf(`${env.acmeBase}/acme/token-web/directory`, await acme.crypto.createPrivateEcdsaKey('P-256'));
      const [, csr] = await acme.crypto.createCsr({ commonName: `${token}.test`, altNames: [`${token}.test`] });
      const pem = await client.auto({ csr, ...env.autoHttp01, email: 'ops@example.test' });
      const [leaf, chainIssuing, chainRoot] = splitPem(pem) as [string, string, string];
      expect(chainIssuing.trim()).toBe(issuing.certificatePem.trim());
      expect(chainRoot.trim()).toBe(root.certificatePem.trim());
      const file = (n: string, text: string) => {
        const f = join(env.dir, `${token}-${n}.pem`);
        writeFileSync(f, text);
        return f;
      };
      const leafFile = file('leaf', leaf);
      const rootFile = file('root', root.certificatePem);
      const issuingFile = file('issuing', issuing.certificatePem);
      const chainFile = file('chain', `${issuing.certificatePem}${root.certificatePem}`);
      expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, leafFile])).toMatch(/: OK/);
      // The root's P-384 token key signed the issuing CA; the issuing CA's P-256 token key the leaf.
      expect(openssl(['x509', '-in', issuingFile, '-noout', '-text'])).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
      expect(openssl(['x509', '-in', leafFile, '-noout', '-text'])).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);

      await client.revokeCertificate(leaf, { reason: 1 });
      const answer = await new Promise<string>((resolve) =>
        execFile('openssl', ['ocsp', '-issuer', issuingFile, '-cert', leafFile, '-url', `${env.base}/ocsp`, '-CAfile', chainFile], (_e, out, err) => resolve(`${out}${err}`)),
      );
      expect(answer).toContain('Response verify OK');
      expect(answer).toMatch(/leaf\.pem: revoked/);
      expect(answer).toMatch(/Reason: keyCompromise/);
    });
  });
});
