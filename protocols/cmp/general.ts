// genm → genp (RFC 9483 §4.3), for a MAC credential of the product or a certificate it trusts: the product's CA certificates (id-it-caCerts), the root CA key
// update (id-it-rootCaKeyUpdate: certgate never has one pending, so its value is absent, §4.3.2),
// and the product's rules as a certificate request template (id-it-certReqTemplate). An empty
// genm asks for whatever the server offers (RFC 9810 §5.3.19): it gets caCerts. infoTypes certgate
// does not know are left out of the genp, as RFC 9810 §5.3.19 lets a receiver ignore them.
import type { ProductRecord } from '../../src/core/types.js';
import { OID } from '../../src/pki/oids.js';
import { fromPem } from '../../src/pki/pem.js';
import { caCertsValue } from './asn1.js';
import type { Handler } from './exchange.js';
import type { InfoTypeAndValue } from './messages.js';
import { trustSigner } from './sender.js';
import { templateOf } from './template.js';

type Answerer = (product: ProductRecord, chainDer: Buffer[]) => InfoTypeAndValue;

const ANSWERS: Readonly<Record<string, Answerer>> = {
  [OID.itCaCerts]: (_product, chain) => ({ oid: OID.itCaCerts, valueDer: caCertsValue(chain) }),
  [OID.itRootCaKeyUpdate]: () => ({ oid: OID.itRootCaKeyUpdate, valueDer: null }),
  [OID.itCertReqTemplate]: (product) => ({ oid: OID.itCertReqTemplate, valueDer: templateOf(product) }),
};

export const general: Handler = async (deps, x) => {
  const body = x.message.body;
  if (body.type !== 'genm') throw new Error(`general() answers genm, not ${body.type}`);
  // A signed genm comes from a certificate of this product or of a CA it trusts, as any other request.
  if (x.sender.kind === 'signature') await trustSigner(x.sender, { core: deps.core, certificates: deps.certificates, product: x.product, sourceIp: x.sourceIp, settings: x.settings }, 'any');
  const asked = body.infos.length === 0 ? [OID.itCaCerts] : [...new Set(body.infos.map((i) => i.oid))];
  const chain = (await deps.core.cas.chainOf(x.product.caId)).map((pem) => fromPem(pem, ['CERTIFICATE']));
  const infos = asked.flatMap((oid) => {
    const answer = ANSWERS[oid];
    return answer ? [answer(x.product, chain)] : [];
  });
  return { body: { type: 'genp', infos } };
};
