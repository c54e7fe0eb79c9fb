// A SCEP client for tests and the benchmark: builds pkiMessages the way RFC 8894 clients do (a
// self-signed certificate for the request's key, the CSR encrypted to the RA) and reads CertReps.
// It uses certgate's CMS codec for the bytes; the independent checks are strongSwan and openssl.
import { createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import type * as pkijs from 'pkijs';
import { randomSerial, signCertificate } from '../../src/pki/certificate.js';
import { encodeName, parseDnString } from '../../src/pki/name.js';
import { fromPem } from '../../src/pki/pem.js';
import { AES_256_CBC, DIGESTS, FAIL_INFO, PKI_STATUS, SCEP_ATTR, type ContentCipher, type DigestName, type FailInfo, type PkiStatus } from '../../protocols/scep/algorithms.js';
import { octets, stringOf } from '../../protocols/scep/asn1Values.js';
import { certRef, parseCertificate, type CertRef, type Signer } from '../../protocols/scep/certRef.js';
import { buildEnvelope, openEnvelope } from '../../protocols/scep/envelope.js';
import { MalformedMessage, ScepFailure } from '../../protocols/scep/messageErrors.js';
import { buildPkiMessage, parseSigned, verifySigned } from '../../protocols/scep/signedData.js';
import { readCertsOnly } from './pkijs.js';

/** A client's certificate and key: it signs requests with them, and replies are encrypted to them. */
export interface Requester extends CertRef {
  key: KeyObject;
  publicKey: KeyObject;
  cert: pkijs.Certificate;
}

export const rsaKey = (bits = 2048): KeyObject => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;

/** The transient self-signed certificate a client signs its first request with (RFC 8894 §2.3). */
export function selfSigned(key: KeyObject, dn: string): Requester {
  const name = encodeName(parseDnString(dn));
  const now = Date.now();
  const certDer = signCertificate(
    {
      serial: randomSerial(),
      issuerDer: name,
      subjectDer: name,
      spkiDer: createPublicKey(key).export({ format: 'der', type: 'spki' }),
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extendedKeyUsage: [],
    },
    { key, algorithm: 'rsa-2048' },
  );
  return { key, publicKey: createPublicKey(key), cert: parseCertificate(certDer), ...certRef(certDer) };
}

/** A requester that signs with a certificate it holds (RenewalReq). */
export function holding(key: KeyObject, certPem: string): Requester {
  const certDer = fromPem(certPem, ['CERTIFICATE']);
  return { key, publicKey: createPublicKey(key), cert: parseCertificate(certDer), ...certRef(certDer) };
}

export interface RaInfo extends CertRef {
  cert: pkijs.Certificate;
  publicKey: KeyObject;
  /** GetCACert's certificates after the RA: the CA, then up to the root. */
  chain: Buffer[];
}

/** GetCACert: the RA (the one certificate that is no CA) and the CA chain. */
export async function getCaCert(url: string): Promise<RaInfo & { contentType: string | null }> {
  const res = await fetch(`${url}?operation=GetCACert`);
  if (res.status !== 200) throw new Error(`GetCACert: ${res.status} ${await res.text()}`);
  const { certificates } = readCertsOnly(Buffer.from(await res.arrayBuffer()));
  const [raDer, ...chain] = certificates;
  if (!raDer) throw new Error('GetCACert returned no certificate');
  return { ...certRef(raDer), cert: parseCertificate(raDer), publicKey: new X509Certificate(raDer).publicKey, chain, contentType: res.headers.get('content-type') };
}

export interface RequestOptions {
  requester: Requester;
  ra: Pick<RaInfo, 'issuerDer' | 'serial' | 'publicKey'>;
  messageType: number;
  /** The envelope's content: a CSR, IssuerAndSubject, IssuerAndSerialNumber. */
  content: Buffer;
  transactionId: string;
  cipher?: ContentCipher;
  digest?: DigestName;
  senderNonce?: Buffer;
  now?: Date;
}

export function buildRequest(o: RequestOptions): Promise<Buffer> {
  return buildPkiMessage({
    signer: o.requester,
    digest: o.digest ?? 'sha256',
    messageType: o.messageType,
    transactionId: o.transactionId,
    envelope: buildEnvelope(o.content, o.ra, o.cipher ?? AES_256_CBC),
    ...(o.senderNonce ? { senderNonce: o.senderNonce } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
}

export interface ReadCertRep {
  status: PkiStatus;
  failInfo: FailInfo | null;
  transactionId: string;
  senderNonce: Buffer;
  recipientNonce: Buffer;
  signer: Signer;
  /** SUCCESS: the pkcsPKIEnvelope. */
  envelope: Buffer | null;
  /** The signed attributes' types, in order. */
  attributeTypes: string[];
}

/** A client's reading of a CertRep, with the server's own signed-layer reader. Throws if it does not verify. */
export function readCertRep(der: Buffer): ReadCertRep {
  const parsed = parseSigned(der);
  const { attrs } = parsed;
  const digest = DIGESTS[parsed.signerInfo.digestAlgorithm.algorithmId];
  if (!digest) throw new MalformedMessage('unsupported digest');
  const verified = verifySigned(parsed, digest);
  if (verified instanceof ScepFailure) throw verified;
  if (stringOf(attrs.get(SCEP_ATTR.messageType), 'messageType') !== '3') throw new MalformedMessage('not a CertRep');
  const statusText = stringOf(attrs.get(SCEP_ATTR.pkiStatus), 'pkiStatus');
  const status = (Object.keys(PKI_STATUS) as PkiStatus[]).find((k) => PKI_STATUS[k] === statusText);
  if (!status) throw new MalformedMessage(`pkiStatus ${statusText}`);
  const failText = attrs.has(SCEP_ATTR.failInfo) ? stringOf(attrs.get(SCEP_ATTR.failInfo), 'failInfo') : null;
  return {
    status,
    failInfo: failText === null ? null : ((Object.keys(FAIL_INFO) as FailInfo[]).find((k) => FAIL_INFO[k] === failText) ?? null),
    transactionId: stringOf(attrs.get(SCEP_ATTR.transactionID), 'transactionID'),
    senderNonce: octets(attrs.get(SCEP_ATTR.senderNonce)),
    recipientNonce: octets(attrs.get(SCEP_ATTR.recipientNonce)),
    signer: verified.signer,
    envelope: verified.content && verified.content.length ? verified.content : null,
    attributeTypes: parsed.signerInfo.signedAttrs.attributes.map((a) => a.type),
  };
}

export interface Reply extends ReadCertRep {
  /** SUCCESS: the certificates (and CRLs) the envelope held, DER. */
  certificates: Buffer[];
  crls: Buffer[];
  /** SUCCESS: the content encryption the CertRep's envelope used. */
  cipher: ContentCipher | null;
}

/** Verifies and reads a CertRep; decrypts a SUCCESS's content with the requester's key. */
export function readReply(der: Buffer, requester: Requester): Reply {
  const rep = readCertRep(der);
  if (rep.status !== 'SUCCESS' || !rep.envelope) return { ...rep, certificates: [], crls: [], cipher: null };
  const { content, cipher } = openEnvelope(rep.envelope, [{ cert: requester.cert, key: requester.key }]);
  return { ...rep, ...readCertsOnly(content), cipher };
}

/** PKIOperation over HTTP: POST (raw body, no Content-Type) or GET (percent-encoded base64 in the URL). */
export async function pkiOperation(url: string, der: Buffer, method: 'GET' | 'POST' = 'POST'): Promise<{ status: number; contentType: string | null; body: Buffer }> {
  const res =
    method === 'POST'
      ? await fetch(`${url}?operation=PKIOperation`, { method: 'POST', body: der })
      : await fetch(`${url}?operation=PKIOperation&message=${encodeURIComponent(der.toString('base64'))}`);
  return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}
