// The infoValues of the genp answers RFC 9483 §4.3 defines, built for the server (it puts them in
// InfoTypeAndValue.valueDer) and read back for the test client.
import * as asn1js from 'asn1js';
import { algorithm, algorithmOf, elementsOf, embed, explicit, explicitInner, isContext, isSequence, malformed, oidOf, parseBer, rawOf, smallIntOf, toDer, type AlgorithmId } from '../../src/pki/asn1.js';
import { certTemplate, readCertTemplate } from '../../src/pki/crmfTemplate.js';
import { OID } from '../../src/pki/oids.js';
import { entriesOf } from './asn1Util.js';

/** id-it-caCerts (RFC 9483 §4.3.1): SEQUENCE SIZE (1..MAX) OF CMPCertificate. */
export function caCertsValue(certs: Buffer[]): Buffer {
  return toDer(new asn1js.Sequence({ value: certs.map((c) => embed(c, 'certificate')) }));
}

export function readCaCerts(valueDer: Buffer): Buffer[] {
  const list = parseBer(valueDer, 'caCerts');
  if (!isSequence(list)) malformed('caCerts is not a SEQUENCE');
  return entriesOf(list, 'caCerts').map(rawOf);
}

export interface RootCaKeyUpdate {
  newWithNew: Buffer;
  newWithOld: Buffer | null;
  oldWithNew: Buffer | null;
}

/** id-it-rootCaKeyUpdate (RFC 9483 §4.3.2): RootCaKeyUpdateContent. */
export function rootCaKeyUpdateValue(update: RootCaKeyUpdate): Buffer {
  const value: asn1js.AsnType[] = [embed(update.newWithNew, 'newWithNew')];
  if (update.newWithOld) value.push(explicit(0, embed(update.newWithOld, 'newWithOld')));
  if (update.oldWithNew) value.push(explicit(1, embed(update.oldWithNew, 'oldWithNew')));
  return toDer(new asn1js.Sequence({ value }));
}

export function readRootCaKeyUpdate(valueDer: Buffer): RootCaKeyUpdate {
  const block = parseBer(valueDer, 'RootCaKeyUpdateContent');
  if (!isSequence(block)) malformed('RootCaKeyUpdateContent is not a SEQUENCE');
  const [newWithNew, ...rest] = elementsOf(block, 'RootCaKeyUpdateContent', 3);
  if (!newWithNew || !isSequence(newWithNew)) malformed('RootCaKeyUpdateContent has no newWithNew');
  const tagged = (n: number) => {
    const b = rest[0] && isContext(rest[0], n) ? rest.shift() : undefined;
    return b ? rawOf(explicitInner(b, 'certificate')) : null;
  };
  const update = { newWithNew: rawOf(newWithNew), newWithOld: tagged(0), oldWithNew: tagged(1) };
  if (rest.length) malformed('malformed RootCaKeyUpdateContent');
  return update;
}

/** One entry of a template's keySpec (RFC 9483 §4.3.3). */
export type KeySpec = { kind: 'algorithm'; alg: AlgorithmId } | { kind: 'rsaKeyLength'; bits: number };

export interface CertReqTemplate {
  /** The subject the CA will put in, null when the requester chooses. */
  subjectDer: Buffer | null;
  /** Each Extension's DER. */
  extensionsDer: Buffer[];
  keySpec: KeySpec[];
}

/** id-it-certReqTemplate (RFC 9483 §4.3.3): CertReqTemplateContent ::= SEQUENCE { certTemplate, keySpec Controls OPTIONAL }. */
export function certReqTemplateValue(t: CertReqTemplate): Buffer {
  const extensionsDer = t.extensionsDer.length ? toDer(new asn1js.Sequence({ value: t.extensionsDer.map((e) => embed(e, 'Extension')) })) : null;
  const value: asn1js.AsnType[] = [certTemplate({ subjectDer: t.subjectDer, extensionsDer })];
  if (t.keySpec.length) {
    value.push(
      new asn1js.Sequence({
        value: t.keySpec.map((k) =>
          k.kind === 'algorithm'
            ? new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.regCtrlAlgId }), algorithm(k.alg)] })
            : new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.regCtrlRsaKeyLen }), new asn1js.Integer({ value: k.bits })] }),
        ),
      }),
    );
  }
  return toDer(new asn1js.Sequence({ value }));
}

export function readCertReqTemplate(valueDer: Buffer): CertReqTemplate {
  const block = parseBer(valueDer, 'CertReqTemplateContent');
  if (!isSequence(block)) malformed('CertReqTemplateContent is not a SEQUENCE');
  const [templateBlock, keySpecBlock, ...extra] = elementsOf(block, 'CertReqTemplateContent', 2);
  if (!templateBlock || extra.length) malformed('malformed CertReqTemplateContent');
  const template = readCertTemplate(templateBlock);
  const extensions = template.extensionsDer ? parseBer(template.extensionsDer, 'extensions') : null;
  const keySpec: KeySpec[] = [];
  if (keySpecBlock) {
    if (!isSequence(keySpecBlock)) malformed('keySpec is not a SEQUENCE');
    for (const control of entriesOf(keySpecBlock, 'keySpec')) {
      const [type, value, ...more] = isSequence(control) ? elementsOf(control, 'keySpec entry', 2) : malformed('a keySpec entry is not a SEQUENCE');
      if (!value || more.length) malformed('malformed keySpec entry');
      const oid = oidOf(type ?? null, 'keySpec type');
      if (oid === OID.regCtrlAlgId) keySpec.push({ kind: 'algorithm', alg: algorithmOf(value, 'keySpec algorithm') });
      else if (oid === OID.regCtrlRsaKeyLen) keySpec.push({ kind: 'rsaKeyLength', bits: smallIntOf(value, 'rsaKeyLen') });
      else malformed(`unknown keySpec control ${oid}`);
    }
  }
  return { subjectDer: template.subjectDer, extensionsDer: extensions ? entriesOf(extensions, 'extensions').map(rawOf) : [], keySpec };
}
