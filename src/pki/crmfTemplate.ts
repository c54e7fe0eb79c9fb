// RFC 4211's CertTemplate, read and written with asn1js. It is what a CRMF request asks for, what an
// rr names the certificate to revoke by, and what a certReqTemplate genp offers (RFC 9483 §4.3.3).
// The CRMF module has IMPLICIT tags, except around CHOICEs (Name, Time), which stay EXPLICIT.
import * as asn1js from 'asn1js';
import { elementsOf, embed, explicit, explicitInner, generalizedTime, implicitConstructed, implicitPrimitive, isSequence, malformed, parseBer, primitiveContent, rawOf, retagAsSequence, taggedFields, timeOf } from './asn1.js';
import { serialHexOfInteger, serialIntegerContent } from './serial.js';

export interface CertTemplate {
  /** [1] serialNumber, in certgate's serial form. */
  serialHex: string | null;
  /** [3] issuer: the Name's DER. */
  issuerDer: Buffer | null;
  /** [4] validity. */
  validity: { notBefore: Date | null; notAfter: Date | null } | null;
  /** [5] subject: the Name's DER. */
  subjectDer: Buffer | null;
  /** [6] publicKey, as a SubjectPublicKeyInfo's DER (the IMPLICIT tag made a SEQUENCE again). */
  spkiDer: Buffer | null;
  /** [9] extensions, as the DER of SEQUENCE OF Extension. */
  extensionsDer: Buffer | null;
}

const TAG = { version: 0, serialNumber: 1, signingAlg: 2, issuer: 3, validity: 4, subject: 5, publicKey: 6, issuerUID: 7, subjectUID: 8, extensions: 9 } as const;

function nameIn(block: asn1js.AsnType | undefined, what: string): Buffer | null {
  if (!block) return null;
  const name = explicitInner(block, what);
  if (!isSequence(name)) malformed(`${what} is not a Name`);
  return rawOf(name);
}

function validityOf(block: asn1js.AsnType | undefined): CertTemplate['validity'] {
  if (!block) return null;
  if (!block.idBlock.isConstructed) malformed('validity must be constructed');
  const fields = taggedFields(block, 'OptionalValidity', 1);
  const at = (n: number) => {
    const t = fields.get(n);
    return t ? timeOf(explicitInner(t, 'validity time'), 'validity time') : null;
  };
  return { notBefore: at(0), notAfter: at(1) };
}

/** Reads a CertTemplate block; throws DerError. */
export function readCertTemplate(block: asn1js.AsnType): CertTemplate {
  if (!isSequence(block)) malformed('CertTemplate is not a SEQUENCE');
  const f = taggedFields(block, 'CertTemplate', 9);
  const serial = f.get(TAG.serialNumber);
  const publicKey = f.get(TAG.publicKey);
  const extensions = f.get(TAG.extensions);
  if (publicKey && !publicKey.idBlock.isConstructed) malformed('publicKey must be constructed');
  if (extensions && !extensions.idBlock.isConstructed) malformed('extensions must be constructed');
  // The implicitly tagged fields certgate does not use must still be of their kind.
  const version = f.get(TAG.version);
  if (version) primitiveContent(version, 'version');
  const signingAlg = f.get(TAG.signingAlg);
  if (signingAlg && !signingAlg.idBlock.isConstructed) malformed('signingAlg must be constructed');
  for (const uid of [f.get(TAG.issuerUID), f.get(TAG.subjectUID)]) if (uid) primitiveContent(uid, 'unique identifier');
  return {
    serialHex: serial ? serialHexOfInteger(primitiveContent(serial, 'serialNumber')) : null,
    issuerDer: nameIn(f.get(TAG.issuer), 'issuer'),
    validity: validityOf(f.get(TAG.validity)),
    subjectDer: nameIn(f.get(TAG.subject), 'subject'),
    spkiDer: publicKey ? retagAsSequence(publicKey) : null,
    extensionsDer: extensions ? retagAsSequence(extensions) : null,
  };
}

/** A CertTemplate block from its fields (absent ones left out). */
export function certTemplate(t: Partial<CertTemplate>): asn1js.Sequence {
  const value: asn1js.AsnType[] = [];
  if (t.serialHex) value.push(implicitPrimitive(TAG.serialNumber, serialIntegerContent(t.serialHex)));
  if (t.issuerDer) value.push(explicit(TAG.issuer, embed(t.issuerDer, 'issuer')));
  if (t.validity) {
    const times: asn1js.AsnType[] = [];
    if (t.validity.notBefore) times.push(explicit(0, generalizedTime(t.validity.notBefore)));
    if (t.validity.notAfter) times.push(explicit(1, generalizedTime(t.validity.notAfter)));
    value.push(implicitConstructed(TAG.validity, times));
  }
  if (t.subjectDer) value.push(explicit(TAG.subject, embed(t.subjectDer, 'subject')));
  if (t.spkiDer) value.push(implicitConstructed(TAG.publicKey, elementsOf(parseBer(t.spkiDer, 'SubjectPublicKeyInfo'), 'SubjectPublicKeyInfo', 2)));
  if (t.extensionsDer) value.push(implicitConstructed(TAG.extensions, elementsOf(parseBer(t.extensionsDer, 'extensions'), 'extensions', 64)));
  return new asn1js.Sequence({ value });
}
