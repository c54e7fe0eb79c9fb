import { children, content, decodeTime, expectTag, raw, readNode, readOid, type DerNode } from './der.js';
import { OID } from './oids.js';
import { serialHexOfInteger } from './serial.js';

export interface CertificateBasics {
  serialHex: string;
  issuerDer: Buffer;
  subjectDer: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  subjectKeyId: Buffer | null;
}

/** Reads the fields certgate needs from a DER certificate (its own CA certificates, mostly). */
export function readCertificateBasics(der: Buffer): CertificateBasics {
  const top = readNode(der, 0);
  const [tbsNode] = children(der, expectTag(top, 0x30, 'Certificate'));
  const fields = children(der, expectTag(tbsNode, 0x30, 'TBSCertificate'));
  let i = 0;
  if (fields[0]?.tag === 0xa0) i++; // version
  const serial = content(der, expectTag(fields[i++], 0x02, 'serialNumber'));
  i++; // signature algorithm
  const issuer = expectTag(fields[i++], 0x30, 'issuer');
  const [nb, na] = children(der, expectTag(fields[i++], 0x30, 'validity')) as [DerNode, DerNode];
  const subject = expectTag(fields[i++], 0x30, 'subject');
  const spki = expectTag(fields[i++], 0x30, 'subjectPublicKeyInfo');
  let subjectKeyId: Buffer | null = null;
  const extWrapper = fields.slice(i).find((f) => f.tag === 0xa3);
  if (extWrapper) {
    const [exts] = children(der, extWrapper);
    for (const ext of children(der, expectTag(exts, 0x30, 'extensions'))) {
      const parts = children(der, ext);
      if (readOid(der, parts[0], 'extension id') !== OID.subjectKeyIdentifier) continue;
      const value = content(der, expectTag(parts[parts.length - 1], 0x04, 'extension value'));
      subjectKeyId = content(value, expectTag(readNode(value, 0), 0x04, 'keyIdentifier'));
    }
  }
  return {
    serialHex: serialHexOfInteger(serial),
    issuerDer: raw(der, issuer),
    subjectDer: raw(der, subject),
    spkiDer: raw(der, spki),
    notBefore: decodeTime(der, nb),
    notAfter: decodeTime(der, na),
    subjectKeyId: subjectKeyId ? Buffer.from(subjectKeyId) : null,
  };
}
