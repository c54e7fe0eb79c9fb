// A stand-in for an upstream ACME CA, for tests of what certgate does with a CA it does not sign
// for, without Pebble: a CA record with backend 'upstream-acme' whose loader issues with a key held
// here (as the upstream would, with whatever status pointers the registry hands it), publishes no
// CRL, and records each revokeUpstream call. The test decides how the "upstream" answers.
import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { AUDIT } from '../../src/audit/actions.js';
import { encryptPrivateKey } from '../../src/ca/keyProtection.js';
import { LocalCa } from '../../src/ca/localCa.js';
import type { CaBackendLoaders } from '../../src/ca/registry.js';
import type { UpstreamRevocation } from '../../src/ca/types.js';
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import { CA_CAPABILITIES } from '../../src/core/caCapabilities.js';
import type { CaRecord } from '../../src/core/types.js';
import { UpstreamProblem } from '../../src/core/upstreamRevocation.js';
import { keyIdentifier, randomSerial, signCertificate } from '../../src/pki/certificate.js';
import { encodeName, parseNameDer } from '../../src/pki/name.js';
import { toPem } from '../../src/pki/pem.js';
import type { Store } from '../../src/store/types.js';
import { TEST_MASTER_KEY } from './gateway.js';

/** accept: revokes (and says alreadyRevoked the second time); refuse: an ACME unauthorized problem; unreachable: ECONNREFUSED. */
export type UpstreamRevocationAnswer = 'accept' | 'refuse' | 'unreachable';

export interface FakeUpstreamCa {
  /** For startGateway/startRestEnv: the `upstream-acme` loader. */
  loaders: CaBackendLoaders;
  /** The upstream's CA certificate, which its certificates verify against. */
  certificatePem: string;
  /** Every revokeUpstream call, in order. */
  calls: UpstreamRevocation[];
  /** Serials the "upstream" holds revoked. */
  revoked: Set<string>;
  /** How the next revocations are answered. */
  answer: UpstreamRevocationAnswer;
  /** Inserts the CA record, audited, as `ca create --upstream-acme` would. */
  register(store: Store, name: string): Promise<CaRecord>;
}

export function fakeUpstreamCa(): FakeUpstreamCa {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spkiDer = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const subjectDer = encodeName([{ type: '2.5.4.3', value: 'Fake Upstream ACME CA' }]);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + 30 * 86_400_000);
  const der = signCertificate(
    { serial: randomSerial(), issuerDer: subjectDer, subjectDer, spkiDer, notBefore, notAfter, ca: {}, keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'], extendedKeyUsage: [], authorityKeyId: keyIdentifier(spkiDer) },
    { key: privateKey, algorithm: 'ec-p256' },
  );
  const certificatePem = toPem('CERTIFICATE', der);

  const fake: FakeUpstreamCa = {
    certificatePem,
    calls: [],
    revoked: new Set(),
    answer: 'accept',
    loaders: {
      'upstream-acme': (ca, { chainPem, pointers }) => {
        const signer = new LocalCa(ca.id, ca.certificatePem, chainPem, { key: privateKey, algorithm: ca.keyAlgorithm }, pointers);
        return Promise.resolve({
          caId: ca.id,
          certificatePem: ca.certificatePem,
          chainPem,
          notAfter: signer.notAfter,
          capabilities: CA_CAPABILITIES['upstream-acme'],
          issue: (request) => signer.issue(request),
          signCrl: () => Promise.reject(new Error('the fake upstream publishes no CRL through certgate')),
          revokeUpstream: (request) => {
            fake.calls.push(request);
            if (fake.answer === 'unreachable') return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:14000'), { code: 'ECONNREFUSED' }));
            if (fake.answer === 'refuse') return Promise.reject(new UpstreamProblem('urn:ietf:params:acme:error:unauthorized', 'this account may not revoke that certificate', 403));
            if (fake.revoked.has(request.serialHex)) return Promise.reject(new UpstreamProblem('urn:ietf:params:acme:error:alreadyRevoked', 'Certificate already revoked', 400));
            fake.revoked.add(request.serialHex);
            return Promise.resolve();
          },
        });
      },
    },
    async register(store, name) {
      const id = randomUUID();
      // What the real backend seals there: its ACME account key.
      const accountKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      return store.cas.insert(
        {
          id,
          name,
          kind: 'root',
          parentId: null,
          keyAlgorithm: 'ec-p256',
          subject: parseNameDer(subjectDer).text,
          certificatePem,
          encryptedKey: encryptPrivateKey(accountKey, TEST_MASTER_KEY, 'master'),
          backend: 'upstream-acme',
          // Settings the real backend would read; the fake's loader ignores them.
          backendConfig: {
            directory: 'https://127.0.0.1:14000/dir',
            accountUrl: 'https://127.0.0.1:14000/acct/1',
            eabKid: null,
            profile: null,
            challenge: { type: 'http-01' },
            caFile: null,
            issuerChainPem: [],
          },
          notBefore,
          notAfter,
        },
        { ...CLI_CONTEXT, action: AUDIT.caCreate, target: id, outcome: 'success', detail: { name, backend: 'upstream-acme' } },
      );
    },
  };
  return fake;
}
