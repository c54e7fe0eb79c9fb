// npm run bench -- codecs [--rounds N] [--crl-entries N] [--pkijs-crl-entries N]
// Why certgate keeps its own DER encoders for certificate bodies and CRLs: the same certificate
// body, and the same CRL, built and signed by certgate (src/pki) and by pkijs over asn1js (signing
// with WebCrypto), in one process. Each line says whether both wrote the same signed-over bytes,
// so the comparison is of equal work. pkijs builds the CRL with fewer entries (it takes seconds);
// its time per entry is extrapolated to certgate's count.
// And what CMP's asn1js codec costs beside the cryptographic work of one enrollment: reading an ir
// and writing its ip, against the PasswordBasedMac check, the proof-of-possession signature check
// and the certificate's signature (the figures a decision to hand-write that codec would need).
import { generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { loadavg } from 'node:os';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { REVOCATION_REASON_CODES, type RevocationReason } from '../src/core/types.js';
import { buildTbsCertificate, keyIdentifier, randomSerial, signatureAlgorithmFor, signCertificate, type CertificateProfile, type Signer } from '../src/pki/certificate.js';
import { buildCrl, type CrlEntry } from '../src/pki/crl.js';
import { children, raw, readNode } from '../src/pki/der.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import { OID } from '../src/pki/oids.js';
import { CmpClient, crmfRequest } from '../test/helpers/cmpClient.js';
import { assemblePkiMessage, decodePkiMessage, encodeProtectedPart } from '../protocols/cmp/asn1.js';
import type { AlgorithmId, PkiBody } from '../protocols/cmp/messages.js';
import { deriveMacKey, macWithKey, pbmAlgorithm, readMacAlgorithm } from '../protocols/cmp/protection.js';
import { parseCrmfRequest } from '../src/pki/crmf.js';
import { verifyCsrSignature } from '../src/pki/csr.js';
import { argValue, emit, round } from './lib.js';

const DAY = 86_400_000;

/** The signed-over part (first element) of a signed DER structure. */
const signedPart = (der: Uint8Array): Buffer => raw(der, children(der, readNode(der, 0))[0] as ReturnType<typeof readNode>);

/** Median over rounds of the time per operation, in µs: the machine is shared and noisy. */
async function perOp(rounds: number, iterations: number, op: () => unknown): Promise<number> {
  // Synchronous operations are not awaited, so they are not charged for a microtask each.
  const run = async (): Promise<void> => {
    const result = op();
    if (result instanceof Promise) await result;
  };
  for (let i = 0; i < Math.min(iterations, 200); i++) await run(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) await run();
    samples.push(((performance.now() - t0) * 1000) / iterations);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

interface Issuer {
  signer: Signer;
  cryptoKey: webcrypto.CryptoKey;
  nameDer: Buffer;
  keyId: Buffer;
}

async function makeIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return {
    signer: { key: privateKey, algorithm: 'ec-p256' },
    cryptoKey,
    nameDer: encodeName(parseDnString('CN=certgate Bench Issuing CA, O=certgate')),
    keyId: keyIdentifier(publicKey.export({ format: 'der', type: 'spki' })),
  };
}

/** A leaf as the worker issues one: names, SAN, key usages, SKI/AKI, CRL and OCSP pointers. */
function leafProfile(issuer: Issuer, leafPublicKey: KeyObject): CertificateProfile {
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  return {
    serial: randomSerial(),
    issuerDer: issuer.nameDer,
    subjectDer: encodeName([{ type: OID.commonName, value: 'host1.bench.test' }]),
    spkiDer: leafPublicKey.export({ format: 'der', type: 'spki' }),
    notBefore,
    notAfter: new Date(notBefore.getTime() + 90 * DAY),
    keyUsage: ['digitalSignature'],
    extendedKeyUsage: ['serverAuth', 'clientAuth'],
    san: { dns: ['host1.bench.test', 'www.host1.bench.test'], ip: [], email: [], uri: [] },
    authorityKeyId: issuer.keyId,
    crlUrls: ['http://certgate.bench.test/crl/issuing.crl'],
    ocspUrls: ['http://certgate.bench.test/ocsp'],
    caIssuerUrls: ['http://certgate.bench.test/ca/issuing.crt'],
  };
}

const ext = (extnID: string, critical: boolean, value: { toSchema(): asn1js.AsnType } | asn1js.BaseBlock): pkijs.Extension =>
  new pkijs.Extension({ extnID, critical, extnValue: ('toSchema' in value ? value.toSchema() : value).toBER(false) });
const uri = (value: string): pkijs.GeneralName => new pkijs.GeneralName({ type: 6, value });
const octets = (b: Buffer): asn1js.OctetString => new asn1js.OctetString({ valueHex: new Uint8Array(b).buffer });

/** The same certificate body, built with pkijs objects field by field. */
function pkijsCertificate(p: CertificateProfile): pkijs.Certificate {
  const magnitude = p.serial[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), p.serial]) : p.serial;
  const cert = new pkijs.Certificate({
    version: 2,
    serialNumber: new asn1js.Integer({ valueHex: new Uint8Array(magnitude).buffer }),
    issuer: pkijs.RelativeDistinguishedNames.fromBER(p.issuerDer),
    subject: pkijs.RelativeDistinguishedNames.fromBER(p.subjectDer),
    subjectPublicKeyInfo: pkijs.PublicKeyInfo.fromBER(p.spkiDer),
    notBefore: new pkijs.Time({ type: 0, value: p.notBefore }),
    notAfter: new pkijs.Time({ type: 0, value: p.notAfter }),
  });
  cert.extensions = [
    ext(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false })),
    ext(OID.keyUsage, true, new asn1js.BitString({ valueHex: new Uint8Array([0x80]).buffer, unusedBits: 7 })),
    ext(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: p.extendedKeyUsage.map((u) => OID[u]) })),
    ext(OID.subjectAltName, false, new pkijs.AltName({ altNames: (p.san?.dns ?? []).map((value) => new pkijs.GeneralName({ type: 2, value })) })),
    ext(OID.subjectKeyIdentifier, false, octets(keyIdentifier(p.spkiDer))),
    ext(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: octets(p.authorityKeyId as Buffer) })),
    ext(OID.cRLDistributionPoints, false, new pkijs.CRLDistributionPoints({ distributionPoints: (p.crlUrls ?? []).map((u) => new pkijs.DistributionPoint({ distributionPoint: [uri(u)] })) })),
    ext(
      OID.authorityInfoAccess,
      false,
      new pkijs.InfoAccess({
        accessDescriptions: [
          ...(p.ocspUrls ?? []).map((u) => new pkijs.AccessDescription({ accessMethod: OID.ocsp, accessLocation: uri(u) })),
          ...(p.caIssuerUrls ?? []).map((u) => new pkijs.AccessDescription({ accessMethod: OID.caIssuers, accessLocation: uri(u) })),
        ],
      }),
    ),
  ];
  return cert;
}

async function certificates(issuer: Issuer, rounds: number): Promise<void> {
  const profile = leafProfile(issuer, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey);
  const alg = signatureAlgorithmFor(issuer.signer.algorithm);
  const signPkijs = async (): Promise<ArrayBuffer> => {
    const cert = pkijsCertificate(profile);
    await cert.sign(issuer.cryptoKey, 'SHA-256');
    return cert.toSchema().toBER();
  };
  // pkijs sets the signature algorithm while it signs; the bodies are compared after that.
  const same = signedPart(signCertificate(profile, issuer.signer)).equals(signedPart(new Uint8Array(await signPkijs())));
  const oursBody = await perOp(rounds, 20_000, () => buildTbsCertificate(profile, alg.der));
  const oursSigned = await perOp(rounds, 5_000, () => signCertificate(profile, issuer.signer));
  const pkijsSigned = await perOp(rounds, 300, signPkijs);
  emit({
    scenario: 'codecs',
    codec: 'certificate',
    key: 'ec-p256',
    same_tbs_bytes: same,
    ours_body_us: round(oursBody, 1),
    ours_build_sign_us: round(oursSigned, 1),
    pkijs_build_sign_us: round(pkijsSigned, 1),
    ratio: round(pkijsSigned / oursSigned, 1),
    load_1m: round(loadavg()[0] as number, 1),
  });
}

async function cmpMessages(issuer: Issuer, rounds: number): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const mac = pbmAlgorithm();
  const client = new CmpClient('http://127.0.0.1:9/', { kind: 'mac', reference: 'bench', secret: 'bench-secret', mac: 'pbm' });
  const irDer = client.build({ type: 'ir', requests: [crmfRequest({ key: privateKey, subject: 'CN=a.bench.test', san: { dns: ['a.bench.test'] } })] }, { implicitConfirm: true }).der;
  const ir = decodePkiMessage(irDer);
  if (ir.body.type !== 'ir') throw new Error('not an ir');
  const request = parseCrmfRequest(ir.body.requests[0] as Buffer);
  const profile = leafProfile(issuer, publicKey);
  const certificate = signCertificate(profile, issuer.signer);
  const macKey = deriveMacKey(readMacAlgorithm(ir.header.protectionAlg as AlgorithmId), 'bench-secret');
  const ip: PkiBody = { type: 'ip', caPubs: [], responses: [{ certReqId: 0n, status: { status: 'accepted', statusString: [], failInfo: [] }, certificateDer: certificate }] };
  const writeIp = (): Buffer => {
    const part = encodeProtectedPart({ ...ir.header, senderNonce: ir.header.recipNonce ?? ir.header.senderNonce, recipNonce: ir.header.senderNonce }, ip);
    return assemblePkiMessage(part, macWithKey(macKey, part), [certificate]);
  };
  const decode = await perOp(rounds, 2_000, () => decodePkiMessage(irDer));
  const encode = await perOp(rounds, 2_000, writeIp);
  const pbm = await perOp(rounds, 1_000, () => deriveMacKey(mac, 'bench-secret'));
  const pop = await perOp(rounds, 2_000, () => verifyCsrSignature(request));
  const sign = await perOp(rounds, 2_000, () => signCertificate(profile, issuer.signer));
  emit({
    scenario: 'codecs',
    codec: 'cmp',
    ir_bytes: irDer.length,
    ip_bytes: writeIp().length,
    asn1js_read_ir_us: round(decode, 1),
    asn1js_write_ip_us: round(encode, 1),
    pbm_500_rounds_us: round(pbm, 1),
    pop_verify_us: round(pop, 1),
    certificate_sign_us: round(sign, 1),
    codec_share_of_this_work: round((decode + encode) / (decode + encode + pbm + pop + sign), 2),
    load_1m: round(loadavg()[0] as number, 1),
  });
}

function crlEntries(n: number): CrlEntry[] {
  const reasons: (RevocationReason | null)[] = [null, 'keyCompromise', 'superseded', 'cessationOfOperation'];
  const base = Date.UTC(2026, 0, 1);
  return Array.from({ length: n }, (_, i) => ({
    serialHex: randomSerial().toString('hex'),
    revokedAt: new Date(base + i * 61_000),
    reason: reasons[i % reasons.length] ?? null,
    invalidityDate: i % 5 === 0 ? new Date(base - i * 1000) : null,
  }));
}

async function pkijsCrl(issuer: Issuer, entries: CrlEntry[], thisUpdate: Date, nextUpdate: Date): Promise<ArrayBuffer> {
  const crl = new pkijs.CertificateRevocationList({
    version: 1,
    issuer: pkijs.RelativeDistinguishedNames.fromBER(issuer.nameDer),
    thisUpdate: new pkijs.Time({ type: 0, value: thisUpdate }),
    nextUpdate: new pkijs.Time({ type: 0, value: nextUpdate }),
    revokedCertificates: entries.map((e) => {
      const serial = Buffer.from(e.serialHex, 'hex');
      const exts: pkijs.Extension[] = [];
      // As RFC 5280 §5.3.1 asks and buildCrl does, unspecified is written as no reason at all.
      const code = e.reason === null || e.reason === 'unspecified' ? undefined : REVOCATION_REASON_CODES[e.reason];
      if (code !== undefined) exts.push(ext('2.5.29.21', false, new asn1js.Enumerated({ value: code })));
      if (e.invalidityDate) exts.push(ext('2.5.29.24', false, new asn1js.GeneralizedTime({ valueDate: e.invalidityDate })));
      return new pkijs.RevokedCertificate({
        userCertificate: new asn1js.Integer({ valueHex: new Uint8Array(serial[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serial]) : serial).buffer }),
        revocationDate: new pkijs.Time({ type: 0, value: e.revokedAt }),
        ...(exts.length ? { crlEntryExtensions: new pkijs.Extensions({ extensions: exts }) } : {}),
      });
    }),
    crlExtensions: new pkijs.Extensions({
      extensions: [
        ext(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: octets(issuer.keyId) })),
        ext('2.5.29.20', false, new asn1js.Integer({ value: 1 })),
      ],
    }),
  });
  await crl.sign(issuer.cryptoKey, 'SHA-256');
  // toSchema() would parse the signed TBS back with asn1js, which refuses a CRL of a few thousand
  // entries; toSchema(true) encodes it again from the objects instead (the same bytes).
  return crl.toSchema(true).toBER();
}

async function crls(issuer: Issuer, rounds: number, oursCount: number, pkijsCount: number): Promise<void> {
  const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + DAY);
  const build = (entries: CrlEntry[]): Buffer =>
    buildCrl({ issuerDer: issuer.nameDer, authorityKeyId: issuer.keyId, crlNumber: 1n, thisUpdate, nextUpdate, entries }, issuer.signer);
  const small = crlEntries(pkijsCount);
  const same = signedPart(build(small)).equals(signedPart(new Uint8Array(await pkijsCrl(issuer, small, thisUpdate, nextUpdate))));
  const big = crlEntries(oursCount);
  const der = build(big);
  const oursMs = (await perOp(rounds, 1, () => build(big))) / 1000;
  const pkijsMs = (await perOp(Math.min(rounds, 3), 1, () => pkijsCrl(issuer, small, thisUpdate, nextUpdate))) / 1000;
  const pkijsPerEntryUs = (pkijsMs * 1000) / pkijsCount;
  const pkijsExtrapolatedMs = (pkijsPerEntryUs * oursCount) / 1000;
  emit({
    scenario: 'codecs',
    codec: 'crl',
    key: 'ec-p256',
    same_tbs_bytes_at_pkijs_count: same,
    entries: oursCount,
    bytes: der.length,
    ours_ms: round(oursMs, 1),
    ours_per_entry_us: round((oursMs * 1000) / oursCount, 3),
    pkijs_entries: pkijsCount,
    pkijs_ms: round(pkijsMs, 1),
    pkijs_per_entry_us: round(pkijsPerEntryUs, 2),
    pkijs_ms_extrapolated: round(pkijsExtrapolatedMs, 0),
    ratio: round(pkijsExtrapolatedMs / oursMs, 1),
    load_1m: round(loadavg()[0] as number, 1),
  });
}

export async function benchCodecs(args: string[]): Promise<void> {
  const issuer = await makeIssuer();
  const rounds = argValue(args, 'rounds', 5);
  await certificates(issuer, rounds);
  await cmpMessages(issuer, rounds);
  await crls(issuer, rounds, argValue(args, 'crl-entries', 100_000), argValue(args, 'pkijs-crl-entries', 5_000));
}
