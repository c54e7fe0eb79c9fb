// The CMP codec against OpenSSL's `openssl cmp` (3.0): the requests it makes (ir, cr, kur, p10cr,
// certConf, rr, genm, pollReq) and the answers of its mock server (ip, cp, kup, rp, genp, pkiConf,
// error, pollRep), MAC- and signature-protected, decode to what openssl was told and their protection
// verifies; what certgate's codec builds has the structure openssl's own messages have under
// `openssl asn1parse`, is served by openssl's mock CMP server, and an answer it builds is accepted by
// the openssl client.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemblePkiMessage, decodePkiMessage, encodeProtectedPart } from '../protocols/cmp/asn1.js';
import { certHash } from '../protocols/cmp/certHash.js';
import type { PkiBody, PkiMessage } from '../protocols/cmp/messages.js';
import { macMatches, macOf, pbmAlgorithm, readMacAlgorithm, verifySignatureProtection } from '../protocols/cmp/protection.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { parseCrmfRequest } from '../src/pki/crmf.js';
import { verifyCsrSignature } from '../src/pki/csr.js';
import { fromPem } from '../src/pki/pem.js';
import { OID } from '../src/pki/oids.js';
import { certConfFor, CmpClient, crmfRequest, directoryName, revocationBody } from './helpers/cmpClient.js';
import { freePort, isListening } from './helpers/net.js';
import { tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const SECRET = 's3cret';
const dir = tempDir('cmp-diff-');
// openssl reads the secrets from the environment (env:CMP_SECRET), never from its command line.
const env = { ...process.env, CMP_SECRET: SECRET, CMP_SRV_SECRET: SECRET };
const file = (name: string) => join(dir, name);
const der = (name: string) => readFileSync(file(name));
const certDer = (name: string) => fromPem(readFileSync(file(name), 'utf8'), ['CERTIFICATE']);
const msg = (name: string): PkiMessage => decodePkiMessage(der(name));

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const openssl = (args: string[]) => run('openssl', args);
/** `openssl cmp`; its diagnostics (it writes them to stdout and stderr) when it fails. */
function cmp(args: string[]): { ok: boolean; stderr: string } {
  try {
    execFileSync('openssl', ['cmp', ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, stderr: '' };
  } catch (e) {
    const failed = e as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, stderr: `${String(failed.stdout ?? '')}${String(failed.stderr ?? e)}` };
  }
}

function ecKey(name: string): void {
  openssl(['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name)]);
}
function leaf(name: string, key: string, subject: string, san?: string): void {
  openssl(['req', '-new', '-key', key, '-subj', subject, ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-out', `${name}.csr`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-copy_extensions', 'copy', '-days', '5', '-out', `${name}.pem`]);
}

const MOCK = ['-use_mock_srv', '-rsp_cert', 'issued.pem', '-rsp_capubs', 'ca.pem'];
const MAC_SERVER = [...MOCK, '-srv_ref', 'srv', '-srv_secret', 'env:CMP_SRV_SECRET'];
const SIG_SERVER = [...MOCK, '-srv_cert', 'srv.pem', '-srv_key', 'srv.key', '-srv_trusted', 'ca.pem'];
const MAC_CLIENT = ['-ref', 'myref', '-secret', 'env:CMP_SECRET', '-recipient', '/CN=Diff CA'];
const SIG_CLIENT = ['-cert', 'client.pem', '-key', 'client.key', '-trusted', 'ca.pem'];
const ENROLL = ['-newkey', 'new.key', '-subject', '/CN=device1', '-sans', 'a.example.com 10.0.0.1'];

const servers: ChildProcess[] = [];

beforeAll(() => {
  ecKey('ca.key');
  openssl(['req', '-x509', '-key', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Diff CA', '-days', '30']);
  ecKey('srv.key');
  leaf('srv', 'srv.key', '/CN=Diff CMP Server');
  ecKey('client.key');
  leaf('client', 'client.key', '/CN=device0');
  ecKey('new.key');
  leaf('issued', 'new.key', '/CN=device1', 'DNS:a.example.com,IP:10.0.0.1');
  const runs: [string[], boolean][] = [
    [[...MAC_SERVER, ...MAC_CLIENT, '-cmd', 'ir', ...ENROLL, '-reqout', 'ir.der,certConf.der', '-rspout', 'ip.der,pkiConf.der', '-certout', 'o1.pem'], true],
    [[...SIG_SERVER, ...SIG_CLIENT, '-cmd', 'cr', ...ENROLL, '-reqout', 'cr.der,crConf.der', '-rspout', 'cp.der,crPkiConf.der', '-certout', 'o2.pem'], true],
    [[...SIG_SERVER, ...SIG_CLIENT, '-cmd', 'kur', '-oldcert', 'issued.pem', '-newkey', 'new.key', '-reqout', 'kur.der,kurConf.der', '-rspout', 'kup.der,kurPkiConf.der', '-certout', 'o3.pem'], true],
    [[...MAC_SERVER, ...MAC_CLIENT, '-cmd', 'p10cr', '-csr', 'issued.csr', '-reqout', 'p10cr.der', '-rspout', 'p10cp.der', '-certout', 'o4.pem'], true],
    [[...MAC_SERVER, ...MAC_CLIENT, '-cmd', 'rr', '-oldcert', 'issued.pem', '-revreason', '1', '-reqout', 'rr.der', '-rspout', 'rp.der'], true],
    [[...MAC_SERVER, ...MAC_CLIENT, '-cmd', 'genm', '-infotype', 'signKeyPairTypes', '-reqout', 'genm.der', '-rspout', 'genp.der'], true],
    [[...MAC_SERVER, '-poll_count', '2', '-check_after', '0', ...MAC_CLIENT, '-cmd', 'ir', ...ENROLL, '-reqout', 'p1.der,p2.der,p3.der,p4.der', '-rspout', 'q1.der,q2.der,q3.der,q4.der', '-certout', 'o5.pem'], true],
    [[...MAC_SERVER, '-send_error', ...MAC_CLIENT, '-cmd', 'ir', ...ENROLL, '-reqout', 'e1.der', '-rspout', 'err.der', '-certout', 'o6.pem'], false],
  ];
  for (const [args, succeeds] of runs) {
    const r = cmp(args);
    expect(r.ok, `openssl cmp ${args.join(' ')}: ${r.stderr}`).toBe(succeeds);
  }
});

afterAll(() => {
  for (const s of servers) if (s.pid && s.exitCode === null) s.kill();
});

const macVerifies = (m: PkiMessage, secret: string) => macMatches(readMacAlgorithm(m.header.protectionAlg as never), secret, m.protectedPartDer, m.protection as Buffer);
const signatureVerifies = (m: PkiMessage) => verifySignatureProtection(m.header.protectionAlg as never, new X509Certificate(m.extraCerts[0] as Buffer).publicKey, m.protectedPartDer, m.protection as Buffer);
const spkiOf = (keyFile: string) => createPublicKey(createPrivateKey(readFileSync(file(keyFile)))).export({ format: 'der', type: 'spki' });

function expectEnrollment(m: PkiMessage, type: 'ir' | 'cr' | 'kur', subject: string, san: boolean) {
  expect(m.body.type).toBe(type);
  if (m.body.type !== type) return;
  expect(m.body.requests).toHaveLength(1);
  const r = parseCrmfRequest(m.body.requests[0] as Buffer);
  expect(r.subject.text).toBe(subject);
  if (san) expect(r.san).toEqual({ dns: ['a.example.com'], ip: ['10.0.0.1'], email: [], uri: [], unsupported: [] });
  expect(r.spkiDer.equals(spkiOf('new.key'))).toBe(true);
  expect(r.certReqId).toBe(0n);
  expect(r.popo).toBe('signature');
  expect(verifyCsrSignature(r)).toBe(true);
  return r;
}

describe('requests made by openssl cmp', () => {
  it('ir (MAC): subject, SANs, key and POP as openssl was told; the MAC verifies with the secret only', () => {
    const ir = msg('ir.der');
    expect(ir.header.pvno).toBe(2);
    expect(ir.header.senderKID?.toString()).toBe('myref');
    expect(ir.header.protectionAlg?.oid).toBe(OID.passwordBasedMac);
    expect(ir.header.recipient).toEqual(directoryName('CN=Diff CA'));
    expect(ir.header.transactionID).toHaveLength(16);
    expect(ir.header.senderNonce).toHaveLength(16);
    expectEnrollment(ir, 'ir', 'CN=device1', true);
    expect(macVerifies(ir, SECRET)).toBe(true);
    expect(macVerifies(ir, 'wrong')).toBe(false);
    const mac = readMacAlgorithm(ir.header.protectionAlg as never);
    expect(mac).toMatchObject({ kind: 'pbm', owf: 'sha256', mac: 'sha1', iterationCount: 500 });
  });

  it('certConf: same transaction, answers the ip nonce, hashes the issued certificate', () => {
    const ir = msg('ir.der');
    const ip = msg('ip.der');
    const conf = msg('certConf.der');
    expect(conf.header.transactionID).toEqual(ir.header.transactionID);
    expect(conf.header.recipNonce).toEqual(ip.header.senderNonce);
    expect(conf.body).toEqual({ type: 'certConf', statuses: [{ certHash: certHash(certDer('issued.pem')), certReqId: 0n, statusInfo: { status: 'accepted', statusString: [], failInfo: [] }, hashAlg: null }] });
    expect(macVerifies(conf, SECRET)).toBe(true);
  });

  it('cr and kur (signature): the signature verifies with the certificate openssl signed with, kur names the certificate it updates', () => {
    const cr = msg('cr.der');
    expect(cr.extraCerts[0]).toEqual(certDer('client.pem'));
    expect(signatureVerifies(cr)).toBe(true);
    expect(cr.header.protectionAlg?.oid).toBe(OID.ecdsaWithSHA256);
    expect(cr.header.sender).toEqual(directoryName('CN=device0'));
    expectEnrollment(cr, 'cr', 'CN=device1', true);

    const kur = msg('kur.der');
    expect(signatureVerifies(kur)).toBe(true);
    // openssl takes the subject and SANs of the certificate being updated (-oldcert; OpenSSL 3.0's
    // mock server updates only the certificate it issues).
    const r = expectEnrollment(kur, 'kur', 'CN=device1', true);
    const old = readCertificateBasics(certDer('issued.pem'));
    expect(r?.oldCertId).toEqual({ issuerDer: old.issuerDer, serialHex: old.serialHex });
    // A tampered protected part does not verify.
    const tampered = { ...kur, protectedPartDer: Buffer.concat([kur.protectedPartDer.subarray(0, -1), Buffer.from([kur.protectedPartDer.at(-1)! ^ 1])]) };
    expect(signatureVerifies(tampered)).toBe(false);
  });

  it('p10cr carries the CSR as openssl read it', () => {
    const p10 = msg('p10cr.der');
    expect(p10.body).toEqual({ type: 'p10cr', csrDer: fromPem(readFileSync(file('issued.csr'), 'utf8'), ['CERTIFICATE REQUEST']) });
    expect(macVerifies(p10, SECRET)).toBe(true);
  });

  it('rr names the certificate by issuer and serial, with the reason', () => {
    const rr = msg('rr.der');
    const issued = readCertificateBasics(certDer('issued.pem'));
    expect(rr.body).toEqual({ type: 'rr', revocations: [{ issuerDer: issued.issuerDer, serialHex: issued.serialHex, reasonCode: 1 }] });
    expect(macVerifies(rr, SECRET)).toBe(true);
  });

  it('genm asks for the infoType, pollReq for the certReqId', () => {
    expect(msg('genm.der').body).toEqual({ type: 'genm', infos: [{ oid: '1.3.6.1.5.5.7.4.2', valueDer: null }] });
    const polls = ['p1.der', 'p2.der', 'p3.der', 'p4.der'].map(msg);
    expect(polls.map((p) => p.body.type)).toEqual(['ir', 'pollReq', 'pollReq', 'certConf']);
    expect(polls[1]?.body).toEqual({ type: 'pollReq', certReqIds: [0n] });
    for (const p of polls) expect(p.header.transactionID).toEqual(polls[0]?.header.transactionID);
  });
});

describe('answers of openssl cmp mock server', () => {
  it('ip, pkiConf (MAC): the certificate and caPubs it was given, the nonces of the requests', () => {
    const ip = msg('ip.der');
    const ir = msg('ir.der');
    expect(ip.body).toEqual({ type: 'ip', caPubs: [certDer('ca.pem')], responses: [{ certReqId: 0n, status: { status: 'accepted', statusString: [], failInfo: [] }, certificateDer: certDer('issued.pem') }] });
    expect(ip.header.recipNonce).toEqual(ir.header.senderNonce);
    expect(ip.header.transactionID).toEqual(ir.header.transactionID);
    expect(ip.header.senderKID?.toString()).toBe('srv');
    expect(macVerifies(ip, SECRET)).toBe(true);
    const conf = msg('pkiConf.der');
    expect(conf.body).toEqual({ type: 'pkiConf' });
    expect(conf.header.recipNonce).toEqual(msg('certConf.der').header.senderNonce);
    expect(macVerifies(conf, SECRET)).toBe(true);
  });

  it('cp and kup (signature) verify with the server certificate', () => {
    for (const [name, type] of [['cp.der', 'cp'], ['kup.der', 'kup']] as const) {
      const m = msg(name);
      expect(m.body.type).toBe(type);
      if (m.body.type !== type) continue;
      expect(m.body.responses[0]?.certificateDer).toEqual(certDer('issued.pem'));
      expect(m.extraCerts[0]).toEqual(certDer('srv.pem'));
      expect(signatureVerifies(m)).toBe(true);
    }
  });

  it('rp, genp, pollRep and error', () => {
    expect(msg('rp.der').body).toEqual({ type: 'rp', statuses: [{ status: 'accepted', statusString: [], failInfo: [] }] });
    const genp = msg('genp.der');
    expect(genp.body.type).toBe('genp');
    if (genp.body.type === 'genp') expect(genp.body.infos.map((i) => i.oid)).toEqual(['1.3.6.1.5.5.7.4.2']);
    const polls = ['q1.der', 'q2.der', 'q3.der', 'q4.der'].map(msg);
    expect(polls.map((p) => p.body.type)).toEqual(['ip', 'pollRep', 'ip', 'pkiConf']);
    expect(polls[0]?.body).toMatchObject({ responses: [{ certReqId: 0n, status: { status: 'waiting' }, certificateDer: null }] });
    expect(polls[1]?.body).toEqual({ type: 'pollRep', entries: [{ certReqId: 0n, checkAfter: 0, reason: null }] });
    const err = msg('err.der');
    expect(err.body).toMatchObject({ type: 'error', status: { status: 'rejection', failInfo: ['badRequest'] } });
    for (const m of [...polls, err, genp]) expect(macVerifies(m, SECRET)).toBe(true);
  });
});

/** `openssl asn1parse` of a DER message: each element's depth and type (OBJECT with its name), no values or lengths. */
function structure(bytes: Buffer): string[] {
  const path = file(`parse-${randomBytes(4).toString('hex')}.der`);
  writeFileSync(path, bytes);
  return openssl(['asn1parse', '-inform', 'DER', '-in', path])
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /d=(\d+)\s+hl=\d+\s+l=\s*\d+\s+(?:cons|prim):\s+(.*)$/.exec(line);
      if (!m) throw new Error(`asn1parse line not understood: ${line}`);
      const [, depth, rest] = m as unknown as [string, string, string];
      const [type, value] = rest.split(/\s*:/, 2).map((s) => s.trim());
      return `${depth} ${type === 'OBJECT' ? `${type}:${value}` : type}`;
    });
}

describe('what certgate builds', () => {
  it('has the structure of openssl cmp own messages under openssl asn1parse', () => {
    const key = createPrivateKey(readFileSync(file('new.key')));
    const theirs = { ir: msg('ir.der'), rr: msg('rr.der'), genm: msg('genm.der'), certConf: msg('certConf.der'), ip: msg('ip.der'), pkiConf: msg('pkiConf.der') };
    const client = new CmpClient('http://127.0.0.1:9/', { kind: 'mac', reference: 'myref', secret: SECRET }, { sender: theirs.ir.header.sender, recipient: directoryName('CN=Diff CA') });
    const ours: Record<keyof typeof theirs, PkiBody> = {
      ir: { type: 'ir', requests: [crmfRequest({ key, subject: 'CN=device1', san: { dns: ['a.example.com'], ip: ['10.0.0.1'] } })] },
      rr: revocationBody(certDer('issued.pem'), 1),
      genm: { type: 'genm', infos: [{ oid: '1.3.6.1.5.5.7.4.2', valueDer: null }] },
      certConf: certConfFor(theirs.ip),
      ip: theirs.ip.body,
      pkiConf: { type: 'pkiConf' },
    };
    for (const [name, body] of Object.entries(ours) as [keyof typeof theirs, PkiBody][]) {
      const t = theirs[name];
      // The same header fields as openssl's message (openssl's requests have no recipNonce before the second message).
      const built = client.build(body, { recipNonce: t.header.recipNonce, extraCerts: t.extraCerts });
      const h = { ...built.header, sender: t.header.sender, recipient: t.header.recipient, senderKID: t.header.senderKID, generalInfo: t.header.generalInfo, freeText: t.header.freeText };
      const pp = encodeProtectedPart(h, body);
      const mine = assemblePkiMessage(pp, macOf(pbmAlgorithm(), SECRET, pp), t.extraCerts);
      expect(structure(mine), name).toEqual(structure(der(`${name}.der`)));
    }
  });

  it('is served by openssl cmp mock server (MAC and signature protection)', async () => {
    const start = async (args: string[]) => {
      const port = await freePort();
      const proc = spawn('openssl', ['cmp', '-port', String(port), '-max_msgs', '0', ...args], { cwd: dir, env, stdio: 'ignore' });
      servers.push(proc);
      await until(() => isListening(port), 10_000, 'openssl cmp -port listens');
      return `http://127.0.0.1:${port}/`;
    };
    const macUrl = await start(['-srv_ref', 'srv', '-srv_secret', 'env:CMP_SRV_SECRET', '-rsp_cert', 'issued.pem', '-rsp_capubs', 'ca.pem']);
    const sigUrl = await start(['-srv_cert', 'srv.pem', '-srv_key', 'srv.key', '-srv_trusted', 'ca.pem', '-rsp_cert', 'issued.pem']);
    const key = createPrivateKey(readFileSync(file('new.key')));
    const request = crmfRequest({ key, subject: 'CN=device1', san: { dns: ['a.example.com'] } });

    const mac = new CmpClient(macUrl, { kind: 'mac', reference: 'myref', secret: SECRET });
    const ip = await mac.exchange({ type: 'ir', requests: [request] });
    expect(ip.httpStatus).toBe(200);
    expect(ip.contentType).toMatch(/application\/pkixcmp/);
    expect(ip.message.body).toMatchObject({ type: 'ip', responses: [{ status: { status: 'accepted' }, certificateDer: certDer('issued.pem') }] });
    expect(ip.protection).toBe('mac');
    expect(ip.answersUs).toBe(true);
    const conf = await mac.follow(ip, certConfFor(ip.message));
    expect([conf.message.body.type, conf.protection, conf.answersUs]).toEqual(['pkiConf', 'mac', true]);
    const p10 = await mac.exchange({ type: 'p10cr', csrDer: fromPem(readFileSync(file('issued.csr'), 'utf8'), ['CERTIFICATE REQUEST']) });
    expect(p10.message.body).toMatchObject({ type: 'cp', responses: [{ status: { status: 'accepted' } }] });
    const rp = await mac.exchange(revocationBody(certDer('issued.pem'), 4));
    expect(rp.message.body).toEqual({ type: 'rp', statuses: [{ status: 'accepted', statusString: [], failInfo: [] }] });
    const genp = await mac.exchange({ type: 'genm', infos: [{ oid: '1.3.6.1.5.5.7.4.2', valueDer: null }] });
    expect(genp.message.body.type).toBe('genp');
    // A wrong secret is refused by openssl: our MAC is what it checks.
    const wrong = await new CmpClient(macUrl, { kind: 'mac', reference: 'myref', secret: 'not the secret' }).exchange({ type: 'ir', requests: [request] });
    expect(wrong.message.body).toMatchObject({ type: 'error', status: { status: 'rejection' } });

    const sig = new CmpClient(sigUrl, { kind: 'signature', certDer: certDer('client.pem'), key: createPrivateKey(readFileSync(file('client.key'))) });
    const cp = await sig.exchange({ type: 'cr', requests: [request] }, { implicitConfirm: true });
    expect(cp.message.body).toMatchObject({ type: 'cp', responses: [{ status: { status: 'accepted' } }] });
    expect([cp.protection, cp.answersUs]).toEqual(['signature', true]);
    const kup = await sig.exchange({ type: 'kur', requests: [crmfRequest({ key, subject: 'CN=device1', oldCertDer: certDer('issued.pem') })] });
    expect(kup.message.body).toMatchObject({ type: 'kup', responses: [{ status: { status: 'accepted' } }] });
    expect(kup.protection).toBe('signature');
  });

  it('builds an ip that the openssl cmp client accepts (MAC verified, certificate and caPubs saved)', () => {
    const key = createPrivateKey(readFileSync(file('new.key')));
    const client = new CmpClient('http://127.0.0.1:9/', { kind: 'mac', reference: 'myref', secret: SECRET });
    const req = client.build({ type: 'ir', requests: [crmfRequest({ key, subject: 'CN=device1' })] }, { implicitConfirm: true });
    const answer = (secret: string) => {
      const mac = pbmAlgorithm();
      const header = { ...req.header, protectionAlg: mac.alg, senderKID: Buffer.from('srv'), senderNonce: randomBytes(16), recipNonce: req.header.senderNonce, sender: directoryName('CN=Diff CA'), recipient: req.header.sender, generalInfo: [{ oid: OID.itImplicitConfirm, valueDer: Buffer.from([5, 0]) }] };
      const pp = encodeProtectedPart(header, { type: 'ip', caPubs: [certDer('ca.pem')], responses: [{ certReqId: 0n, status: { status: 'accepted', statusString: [], failInfo: [] }, certificateDer: certDer('issued.pem') }] });
      return assemblePkiMessage(pp, macOf(mac, secret, pp), []);
    };
    writeFileSync(file('our_ip.der'), answer(SECRET));
    writeFileSync(file('our_bad_ip.der'), answer('another secret'));
    const client3 = (rspin: string, out: string) => cmp([...MAC_CLIENT, '-cmd', 'ir', '-rspin', rspin, '-newkey', 'new.key', '-subject', '/CN=device1', '-implicit_confirm', '-certout', out, '-cacertsout', `ca-${out}`]);
    const accepted = client3('our_ip.der', 'ours.pem');
    expect(accepted.ok, accepted.stderr).toBe(true);
    expect(certDer('ours.pem')).toEqual(certDer('issued.pem'));
    expect(certDer('ca-ours.pem')).toEqual(certDer('ca.pem'));
    const refused = client3('our_bad_ip.der', 'bad.pem');
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(/wrong pbm value/);
  });
});
