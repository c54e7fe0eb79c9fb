// Certificates as CMS names them (IssuerAndSerialNumber, RFC 5652 §10.2.4): the requester that
// signs, the RA that an envelope is for, each with its bytes as sent.
import { createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { preEncoded } from '../../src/pki/pkcs7.js';
import { bytesOf, serialHexOf, toDer } from './asn1Values.js';

/** A certificate as CMS names it (IssuerAndSerialNumber), with its bytes as sent. */
export interface CertRef {
  der: Buffer;
  /** The issuer Name, DER. */
  issuerDer: Buffer;
  /** The serial number INTEGER's content octets. */
  serial: Buffer;
}

export interface Signer extends CertRef {
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex, as the store keeps serials. */
  serialHex: string;
}

function refOf(der: Buffer, cert: pkijs.Certificate): CertRef {
  return { der, issuerDer: toDer(cert.issuer.toSchema()), serial: bytesOf(cert.serialNumber.valueBlock.valueHexView) };
}

/** The IssuerAndSerialNumber of a certificate (pkijs keeps the issuer Name's bytes as they came). */
export function certRef(der: Buffer): CertRef {
  return refOf(der, pkijs.Certificate.fromBER(der));
}

export function signerOf(der: Buffer, cert: pkijs.Certificate): Signer {
  // Not X509Certificate: it costs half a millisecond, most of it on what is not needed here.
  const spki = toDer(cert.subjectPublicKeyInfo.toSchema());
  return {
    ...refOf(der, cert),
    publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    serialHex: serialHexOf(cert.serialNumber),
  };
}

/** IssuerAndSerialNumber from a CertRef, without parsing the certificate again. */
export function issuerAndSerial(ref: Pick<CertRef, 'issuerDer' | 'serial'>): pkijs.IssuerAndSerialNumber {
  return new pkijs.IssuerAndSerialNumber({ issuer: preEncoded<pkijs.RelativeDistinguishedNames>(ref.issuerDer), serialNumber: new asn1js.Integer({ valueHex: ref.serial }) });
}

export const parseCertificate = (der: Buffer): pkijs.Certificate => pkijs.Certificate.fromBER(der);
