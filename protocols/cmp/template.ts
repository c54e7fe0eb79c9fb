// The product's rules as an id-it-certReqTemplate value (RFC 9483 §4.3.3): a CertTemplate with
// neither subject nor extensions (the product decides subject, names and validity from what the
// request asks for, as for every protocol) and keySpec naming each key type the product signs:
// id-regCtrl-algId with ecPublicKey and its curve, id-regCtrl-rsaKeyLen with the RSA size.
import type { KeyAlgorithm, ProductRecord } from '../../src/core/types.js';
import { oid } from '../../src/pki/der.js';
import { OID } from '../../src/pki/oids.js';
import { certReqTemplateValue, type KeySpec } from './genpValues.js';

const ec = (curveOid: string): KeySpec => ({ kind: 'algorithm', alg: { oid: OID.ecPublicKey, paramsDer: oid(curveOid) } });

const KEY_SPEC: Readonly<Record<KeyAlgorithm, KeySpec>> = {
  'ec-p256': ec(OID.secp256r1),
  'ec-p384': ec(OID.secp384r1),
  'rsa-2048': { kind: 'rsaKeyLength', bits: 2048 },
  'rsa-3072': { kind: 'rsaKeyLength', bits: 3072 },
  'rsa-4096': { kind: 'rsaKeyLength', bits: 4096 },
};

const made = new WeakMap<ProductRecord, Buffer>();

export function templateOf(product: ProductRecord): Buffer {
  let der = made.get(product);
  if (!der) {
    der = certReqTemplateValue({ subjectDer: null, extensionsDer: [], keySpec: product.template.keyAlgorithms.map((k) => KEY_SPEC[k]) });
    made.set(product, der);
  }
  return der;
}
