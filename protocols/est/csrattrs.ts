// /csrattrs (RFC 7030 §4.5): what a CSR for this product should carry, from its template, as
// CsrAttrs ::= SEQUENCE OF AttrOrOID (AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }),
// encoded with asn1js.
import * as asn1js from 'asn1js';
import type { KeyAlgorithm, ProductTemplate } from '../../src/core/types.js';
import { OID, SIGNING_ALGORITHM } from '../../src/pki/oids.js';

const CURVE: Partial<Record<KeyAlgorithm, string>> = { 'ec-p256': OID.secp256r1, 'ec-p384': OID.secp384r1 };
const RSA_BITS: Partial<Record<KeyAlgorithm, number>> = { 'rsa-2048': 2048, 'rsa-3072': 3072, 'rsa-4096': 4096 };
const SUBJECT_OID = { C: OID.countryName, ST: OID.stateOrProvinceName, L: OID.localityName, O: OID.organizationName, OU: OID.organizationalUnitName } as const;

const oid = (value: string): asn1js.ObjectIdentifier => new asn1js.ObjectIdentifier({ value });

/** A DER SET OF: its elements in the order of their encodings (X.690 §11.6). */
function derSet(values: asn1js.BaseBlock[]): asn1js.Set {
  const sorted = values.map((v) => ({ v, der: Buffer.from(v.toBER(false)) })).sort((a, b) => Buffer.compare(a.der, b.der));
  return new asn1js.Set({ value: sorted.map((s) => s.v) });
}

const attribute = (type: string, values: asn1js.BaseBlock[]): asn1js.Sequence => new asn1js.Sequence({ value: [oid(type), derSet(values)] });

/**
 * The product's wishes, in the forms RFC 7030 §4.5.2 shows: the key types it signs (ecPublicKey with
 * the allowed curves, rsaEncryption with the allowed sizes), the signature algorithm for each, a
 * subjectAltName in the extension request, and the subject attributes the CSR chooses (CN, and
 * those the product takes from the request).
 */
export function csrAttrsFor(template: ProductTemplate): Buffer {
  const items: asn1js.BaseBlock[] = [];
  const curves = template.keyAlgorithms.flatMap((k) => CURVE[k] ?? []);
  if (curves.length) items.push(attribute(OID.ecPublicKey, curves.map(oid)));
  const rsaBits = template.keyAlgorithms.flatMap((k) => RSA_BITS[k] ?? []);
  if (rsaBits.length) items.push(attribute(OID.rsaEncryption, rsaBits.map((value) => new asn1js.Integer({ value }))));
  for (const signing of new Set(template.keyAlgorithms.map((k) => SIGNING_ALGORITHM[k]))) items.push(oid(signing));
  items.push(attribute(OID.extensionRequest, [oid(OID.subjectAltName)]));
  items.push(oid(OID.commonName));
  for (const [name, rule] of Object.entries(template.subject.attributes)) {
    if (rule && 'allowed' in rule) items.push(oid(SUBJECT_OID[name as keyof typeof SUBJECT_OID]));
  }
  return Buffer.from(new asn1js.Sequence({ value: items }).toBER(false));
}
