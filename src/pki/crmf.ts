// A CRMF certificate request message (RFC 4211 CertReqMsg), as CMP's ir, cr and kur carry them, read
// into the form every request takes in the core (ParsedCsr), so that the product decides its
// certificate exactly as for a PKCS#10 CSR. Its proof of possession, when it is a signature, is a
// signature over the CertRequest by the requested key: the same check as a CSR's.
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { algorithm, algorithmOf, bigintOf, bitsOf, elementsOf, embed, explicit, explicitInner, integer, isContext, isSequence, malformed, oidOf, parseBer, primitiveContent, rawOf, toDer, type AlgorithmId } from './asn1.js';
import { certTemplate, readCertTemplate, type CertTemplate } from './crmfTemplate.js';
import { assertDer, CsrError, readRequestedSan, type ParsedCsr, type SubjectAltNames } from './csr.js';
import { DerError, readNode } from './der.js';
import { parseName } from './name.js';
import { OID } from './oids.js';
import { serialHexOfInteger, serialIntegerContent } from './serial.js';
import { readSpki } from './spki.js';

export interface ParsedCrmfRequest extends ParsedCsr {
  format: 'crmf';
  /** certReqId: what responses, certConf and pollReq name the request by. */
  certReqId: bigint;
  /** The id-regCtrl-oldCertID control: the certificate a key update replaces. */
  oldCertId: { issuerDer: Buffer; serialHex: string } | null;
  /** How possession of the key is proved; only `signature` is verified (infoDer, signature). */
  popo: 'signature' | 'raVerified' | 'keyEncipherment' | 'keyAgreement' | 'none';
  /** The validity the requester asked for (the product decides the certificate's). */
  validity: { notBefore: Date | null; notAfter: Date | null } | null;
}

const MAX_CRMF_BYTES = 64 * 1024;
const MAX_CONTROLS = 16;
const EMPTY_NAME = Buffer.from([0x30, 0x00]);
const POPO_KINDS = ['raVerified', 'signature', 'keyEncipherment', 'keyAgreement'] as const;

/** Reads one CertReqMsg (DER). Throws CsrError with a readable reason. */
export function parseCrmfRequest(der: Buffer): ParsedCrmfRequest {
  if (der.length > MAX_CRMF_BYTES) throw new CsrError('malformed CRMF request: larger than 64 KiB');
  try {
    return readCertReqMsg(der);
  } catch (e) {
    if (e instanceof CsrError) throw e;
    if (e instanceof DerError || e instanceof RangeError || e instanceof TypeError) throw new CsrError(`malformed CRMF request: ${e.message}`);
    throw new CsrError(`malformed CRMF request: ${(e as Error).message}`);
  }
}

function readCertReqMsg(der: Buffer): ParsedCrmfRequest {
  // Stored requests are read back by the worker and signed into certificates: DER throughout, as a CSR.
  assertDer(der);
  const msg = parseBer(der, 'CertReqMsg');
  if (!isSequence(msg)) malformed('CertReqMsg is not a SEQUENCE');
  const [certReq, ...rest] = elementsOf(msg, 'CertReqMsg', 3);
  if (!certReq || !isSequence(certReq)) malformed('CertReqMsg has no CertRequest');
  let popoBlock: asn1js.AsnType | null = null;
  if (rest[0] && rest[0].idBlock.tagClass === 3) popoBlock = rest.shift() as asn1js.AsnType;
  // regInfo (SEQUENCE OF AttributeTypeAndValue) is not used, but must be one.
  if (rest.length > 1 || (rest[0] && !isSequence(rest[0]))) malformed('malformed CertReqMsg: unexpected elements');

  const [idBlock, templateBlock, controlsBlock, ...extra] = elementsOf(certReq, 'CertRequest', 3);
  if (!templateBlock || extra.length) malformed('malformed CertRequest');
  const certReqId = bigintOf(idBlock ?? null, 'certReqId');
  const template = readCertTemplate(templateBlock);
  const oldCertId = controlsBlock ? readControls(controlsBlock) : null;

  if (!template.spkiDer) throw new CsrError('the CRMF request has no public key: certgate does not generate keys (RFC 9483 §4.1.6)');
  const spki = readSpki(template.spkiDer);
  const subjectDer = template.subjectDer ?? EMPTY_NAME;
  const san: SubjectAltNames = template.extensionsDer ? readRequestedSan(template.extensionsDer) : { dns: [], ip: [], email: [], uri: [], unsupported: [] };
  const pop = readPopo(popoBlock);

  return {
    format: 'crmf',
    der,
    infoDer: rawOf(certReq),
    subjectDer,
    subject: parseName(subjectDer, readNode(subjectDer, 0)),
    spkiDer: template.spkiDer,
    spki,
    keyAlgorithm: spki.keyAlgorithm,
    signatureAlgorithm: pop.signatureAlgorithm,
    signature: pop.signature,
    san,
    challengePassword: null,
    certReqId,
    oldCertId,
    popo: pop.kind,
    validity: template.validity,
  };
}

function readControls(block: asn1js.AsnType): ParsedCrmfRequest['oldCertId'] {
  if (!isSequence(block)) malformed('controls is not a SEQUENCE');
  let oldCertId: ParsedCrmfRequest['oldCertId'] = null;
  for (const control of elementsOf(block, 'controls', MAX_CONTROLS)) {
    const [type, value, ...extra] = isSequence(control) ? elementsOf(control, 'control', 2) : malformed('a control is not a SEQUENCE');
    if (!value || extra.length) malformed('malformed control');
    if (oidOf(type ?? null, 'control type') !== OID.regCtrlOldCertID) continue;
    if (oldCertId) throw new CsrError('the CRMF request names more than one old certificate');
    // CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER }; certificates name their issuer by directoryName.
    const [issuer, serial, ...more] = isSequence(value) ? elementsOf(value, 'CertId', 2) : malformed('oldCertID is not a CertId');
    if (!issuer || !serial || more.length) malformed('malformed oldCertID');
    if (!isContext(issuer, 4)) throw new CsrError('oldCertID must name its issuer by directoryName');
    const name = explicitInner(issuer, 'oldCertID issuer');
    if (!isSequence(name)) malformed('oldCertID issuer is not a Name');
    if (!(serial instanceof asn1js.Integer)) malformed('oldCertID serialNumber is not an INTEGER');
    oldCertId = { issuerDer: rawOf(name), serialHex: serialHexOfInteger(primitiveContent(serial, 'serialNumber')) };
  }
  return oldCertId;
}

function readPopo(block: asn1js.AsnType | null): { kind: ParsedCrmfRequest['popo']; signatureAlgorithm: string; signature: Buffer } {
  const none = { signatureAlgorithm: '', signature: Buffer.alloc(0) };
  if (!block) return { kind: 'none', ...none };
  const kind = POPO_KINDS[block.idBlock.tagNumber];
  if (!kind) return malformed('unknown ProofOfPossession');
  if (kind === 'raVerified') {
    if (primitiveContent(block, 'raVerified').length !== 0) malformed('raVerified must be NULL');
    return { kind, ...none };
  }
  if (!block.idBlock.isConstructed) malformed(`${kind} must be constructed`);
  if (kind !== 'signature') return { kind, ...none };
  // POPOSigningKey ::= SEQUENCE { poposkInput [0] OPTIONAL, algorithmIdentifier, signature BIT STRING }, IMPLICIT [1].
  const parts = elementsOf(block, 'POPOSigningKey', 3);
  if (parts[0] && isContext(parts[0], 0)) {
    throw new CsrError('the proof of possession signs a POPOSigningKeyInput: RFC 9483 asks for the subject and key in the certTemplate, signed as the CertRequest');
  }
  const [alg, sig, ...extra] = parts;
  if (!sig || extra.length) malformed('malformed POPOSigningKey');
  const { bytes, unusedBits } = bitsOf(sig, 'POP signature');
  if (unusedBits !== 0 || bytes.length === 0) malformed('the POP signature is not whole bytes');
  return { kind, signatureAlgorithm: algorithmOf(alg ?? null, 'POP signature algorithm').oid, signature: bytes };
}

export interface CertReqMsgInput {
  certReqId: bigint;
  template: Partial<CertTemplate>;
  /** id-regCtrl-oldCertID, for a key update. */
  oldCertId?: { issuerDer: Buffer; serialHex: string } | null;
  /** Signs the CertRequest for a signature POP (the requested key); no POP when absent. */
  popo?: { alg: AlgorithmId; key: KeyObject; hash: string | null } | null;
}

/** Builds one CertReqMsg (DER): what a CMP client puts in an ir, cr or kur. */
export function buildCertReqMsg(input: CertReqMsgInput): Buffer {
  const certReqValue: asn1js.AsnType[] = [integer(input.certReqId), certTemplate(input.template)];
  if (input.oldCertId) {
    const certId = new asn1js.Sequence({ value: [explicit(4, embed(input.oldCertId.issuerDer, 'issuer')), new asn1js.Integer({ valueHex: serialIntegerContent(input.oldCertId.serialHex) })] });
    certReqValue.push(new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.regCtrlOldCertID }), certId] })] }));
  }
  const certReqDer = toDer(new asn1js.Sequence({ value: certReqValue }));
  const value: asn1js.AsnType[] = [embed(certReqDer, 'CertRequest')];
  if (input.popo) {
    const signature = cryptoSign(input.popo.hash, certReqDer, { key: input.popo.key, dsaEncoding: 'der' });
    value.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: [algorithm(input.popo.alg), new asn1js.BitString({ valueHex: signature })] }));
  }
  return toDer(new asn1js.Sequence({ value }));
}
