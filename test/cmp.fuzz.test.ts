// Property tests of the CMP codec on untrusted bytes: random input and mutations of messages made by
// `openssl cmp` and by certgate's codec either decode or are refused with a CmpDecodeError carrying a
// PKIFailureInfo (so the front-end can answer with an `error` PKIMessage); the CRMF requests inside,
// and the MAC parameters, are read or refused with their own errors. Nothing else escapes.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assemblePkiMessage, caCertsValue, CmpDecodeError, decodePkiMessage, encodeProtectedPart } from '../protocols/cmp/asn1.js';
import { FAIL_INFO, type PkiBody, type PkiHeader } from '../protocols/cmp/messages.js';
import { pbmac1Algorithm, readMacAlgorithm } from '../protocols/cmp/protection.js';
import { parseCrmfRequest } from '../src/pki/crmf.js';
import { CsrError } from '../src/pki/csr.js';
import { OID } from '../src/pki/oids.js';
import { fromPem } from '../src/pki/pem.js';
import { crmfRequest, directoryName, revocationBody } from './helpers/cmpClient.js';
import { fuzzAround } from './helpers/fuzz.js';
import { tempDir } from './helpers/openssl.js';

const seeds: { name: string; der: Buffer }[] = [];
let opensslCertReqMsg: Buffer;

beforeAll(() => {
  const dir = tempDir('cmp-fuzz-');
  const env = { ...process.env, CMP_SECRET: 'fuzz-secret' };
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-subj', '/CN=fuzz.example', '-addext', 'subjectAltName=DNS:fuzz.example,IP:192.0.2.9', '-days', '2', '-out', 'c.pem']);
  run(['cmp', '-use_mock_srv', '-rsp_cert', 'c.pem', '-rsp_capubs', 'c.pem', '-srv_ref', 'fuzzsrv', '-srv_secret', 'env:CMP_SECRET', '-ref', 'fuzzref', '-secret', 'env:CMP_SECRET', '-cmd', 'ir', '-newkey', 'k.pem', '-subject', '/CN=fuzz.example', '-sans', 'fuzz.example 192.0.2.9', '-reqout', 'ir.der,certConf.der', '-rspout', 'ip.der,pkiConf.der', '-certout', 'out.pem']);
  for (const name of ['ir', 'certConf', 'ip', 'pkiConf']) seeds.push({ name: `openssl ${name}`, der: readFileSync(join(dir, `${name}.der`)) });
  const ir = decodePkiMessage(readFileSync(join(dir, 'ir.der')));
  if (ir.body.type !== 'ir') throw new Error('openssl made no ir');
  opensslCertReqMsg = ir.body.requests[0] as Buffer;

  const cert = fromPem(readFileSync(join(dir, 'c.pem'), 'utf8'), ['CERTIFICATE']);
  const key = createPrivateKey(readFileSync(join(dir, 'k.pem')));
  const header: PkiHeader = {
    pvno: 3,
    sender: directoryName('CN=fuzz'),
    recipient: directoryName('CN=ca'),
    messageTime: new Date(),
    protectionAlg: pbmac1Algorithm().alg,
    senderKID: Buffer.from('ref'),
    recipKID: null,
    transactionID: randomBytes(16),
    senderNonce: randomBytes(16),
    recipNonce: randomBytes(16),
    freeText: ['fuzz'],
    generalInfo: [{ oid: OID.itImplicitConfirm, valueDer: Buffer.from([5, 0]) }],
  };
  const ours: PkiBody[] = [
    { type: 'kur', requests: [crmfRequest({ key, subject: 'CN=fuzz.example', san: { dns: ['a.example'] }, oldCertDer: cert })] },
    revocationBody(cert, 1),
    { type: 'genp', infos: [{ oid: OID.itCaCerts, valueDer: caCertsValue([cert]) }] },
    { type: 'error', status: { status: 'rejection', statusString: ['no'], failInfo: ['badPOP'] }, errorCode: 3, errorDetails: ['x'] },
    { type: 'pollRep', entries: [{ certReqId: 0n, checkAfter: 5, reason: 'wait' }] },
  ];
  for (const body of ours) seeds.push({ name: `ours ${body.type}`, der: assemblePkiMessage(encodeProtectedPart(header, body), randomBytes(32), [cert]) });
});

const FAIL_NAMES = new Set(Object.keys(FAIL_INFO));

/** What must hold for any bytes: a message (whose parts read or refuse cleanly), or a CmpDecodeError. */
function checkMessage(input: Buffer): void {
  let message;
  try {
    message = decodePkiMessage(input);
  } catch (e) {
    if (!(e instanceof CmpDecodeError)) throw e;
    expect(FAIL_NAMES.has(e.failInfo)).toBe(true);
    expect(e.message.length).toBeGreaterThan(0);
    return;
  }
  const body = message.body;
  if (body.type === 'ir' || body.type === 'cr' || body.type === 'kur') {
    for (const request of body.requests) checkCrmf(request);
  }
  const alg = message.header.protectionAlg;
  if (alg && (alg.oid === OID.passwordBasedMac || alg.oid === OID.pbmac1)) {
    try {
      readMacAlgorithm(alg);
    } catch (e) {
      if (!(e instanceof CmpDecodeError) || e.failInfo !== 'badAlg') throw e;
    }
  }
  // What was decoded can be written back (the server echoes ids, nonces and names).
  if (body.type !== 'unsupported') encodeProtectedPart(message.header, body);
}

function checkCrmf(input: Buffer): void {
  try {
    const r = parseCrmfRequest(input);
    expect(r.format).toBe('crmf');
  } catch (e) {
    if (!(e instanceof CsrError)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
  }
}

describe('CMP codec on untrusted bytes', () => {
  it('decodes or refuses with a CmpDecodeError: random bytes, edited and cut messages', () => {
    for (const seed of seeds) {
      expect(() => decodePkiMessage(seed.der), seed.name).not.toThrow();
      fuzzAround(seed.der, checkMessage, { random: 300, edits: 1500, cuts: 200 });
    }
  });

  it('reads a CRMF request or refuses it with a CsrError', () => {
    expect(parseCrmfRequest(opensslCertReqMsg).subject.commonName).toBe('fuzz.example');
    fuzzAround(opensslCertReqMsg, checkCrmf, { random: 1000, edits: 3000, cuts: 300 });
    const ours = crmfRequest({ key: generateKeyPairSync('ed25519').privateKey, subject: 'CN=x', san: { ip: ['2001:db8::1'] } });
    fuzzAround(ours, checkCrmf, { random: 200, edits: 2000, cuts: 200 });
  });
});
