// The product's rules as an id-it-certReqTemplate value (RFC 9483 §4.3.3): an empty CertTemplate
// (the product decides subject, names and validity from what the request asks for, as for every
// protocol) and keySpec naming each key type the product signs: id-regCtrl-algId with the EC
// curve, id-regCtrl-rsaKeyLen with the RSA size.
import type { KeyAlgorithm, ProductRecord } from '../../src/core/types.js';
import { OID } from '../../src/pki/oids.js';
import { certReqTemplateValue, type KeySpec } from './asn1.js';

const KEY_SPEC: Readonly<Record<KeyAlgorithm, KeySpec>> = {
  'ec-p256': { kind: 'ec', curveOid: OID.secp256r1 },
  'ec-p384': { kind: 'ec', curveOid: OID.secp384r1 },
  'rsa-2048': { kind: 'rsa', bits: 2048 },
  'rsa-3072': { kind: 'rsa', bits: 3072 },
  'rsa-4096': { kind: 'rsa', bits: 4096 },
};

const made = new WeakMap<ProductRecord, Buffer>();

export function templateOf(product: ProductRecord): Buffer {
  let der = made.get(product);
  if (!der) {
    der = certReqTemplateValue(product.template.keyAlgorithms.flatMap((k) => KEY_SPEC[k] ?? []));
    made.set(product, der);
  }
  return der;
}
