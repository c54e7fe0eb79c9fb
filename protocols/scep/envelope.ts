// The pkcsPKIEnvelope (RFC 8894 §3.2.2): a CMS EnvelopedData, the content encrypted for one
// recipient with RSA PKCS#1 v1.5 key transport. Opened and built with pkijs over asn1js and
// node:crypto (pkijs's WebCrypto has no RSA PKCS#1 v1.5 encryption).
import { constants, createCipheriv, createDecipheriv, createHash, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { CIPHERS, CMS, RSA_ENCRYPTION, type ContentCipher } from './algorithms.js';
import { berOf, bytesOf, octets, toDer } from './asn1Values.js';
import { issuerAndSerial, type Signer } from './certRef.js';
import { rsaDecryptPkcs1Implicit, RsaInputError } from './implicitRejection.js';
import { ScepFailure } from './messageErrors.js';

/** How openEnvelope's failure begins when no recipient of the envelope is one of ours. */
export const UNKNOWN_RECIPIENT = 'the envelope is not encrypted for this RA';

/** An RA key that can open an envelope addressed to its certificate. */
export interface EnvelopeRecipient {
  cert: pkijs.Certificate;
  key: KeyObject;
}

/** An envelope whose recipient is one of ours, its content-encryption key still wrapped. */
export interface AddressedEnvelope<R> {
  recipient: R;
  encryptedKey: Buffer;
  cipher: ContentCipher;
  iv: Buffer;
  ciphertext: Buffer;
}

/**
 * Opens the pkcsPKIEnvelope: finds the recipient that is ours, unwraps the content-encryption key
 * with implicit rejection, decrypts. Every way it can fail after the algorithms are known is the
 * same badMessageCheck, whether the key transport's padding or the content's was wrong.
 */
export function openEnvelope<R extends EnvelopeRecipient>(der: Buffer, recipients: readonly R[]): { content: Buffer; cipher: ContentCipher; recipient: R } {
  const addressed = addressedEnvelope(der, recipients);
  return { content: openWithKey(addressed, addressed.recipient.key), cipher: addressed.cipher, recipient: addressed.recipient };
}

/** The content of an envelope addressed to a software key: unwrapped with implicit rejection. */
export function openWithKey(addressed: Omit<AddressedEnvelope<unknown>, 'recipient'>, key: KeyObject): Buffer {
  let cek: Buffer;
  try {
    cek = rsaDecryptPkcs1Implicit(key, addressed.encryptedKey);
  } catch (e) {
    if (e instanceof RsaInputError) throw new ScepFailure('badMessageCheck', 'the envelope cannot be decrypted');
    throw e;
  }
  return decryptContent(addressed, cek);
}

/** Reads the envelope and finds which of `recipients` it is for (the algorithms checked). */
export function addressedEnvelope<R extends { cert: pkijs.Certificate }>(der: Buffer, recipients: readonly R[]): AddressedEnvelope<R> {
  let enveloped: pkijs.EnvelopedData;
  try {
    const info = new pkijs.ContentInfo({ schema: berOf(der) });
    if (info.contentType !== CMS.envelopedData) throw new Error('not an EnvelopedData');
    enveloped = new pkijs.EnvelopedData({ schema: info.content });
  } catch (e) {
    throw new ScepFailure('badMessageCheck', `the pkcsPKIEnvelope does not parse: ${(e as Error).message}`);
  }
  let found: { info: pkijs.KeyTransRecipientInfo; recipient: R } | undefined;
  for (const ri of enveloped.recipientInfos) {
    if (ri.variant !== 1) continue;
    const info = ri.value as pkijs.KeyTransRecipientInfo;
    if (!(info.rid instanceof pkijs.IssuerAndSerialNumber)) continue;
    const rid = info.rid;
    const recipient = recipients.find((r) => r.cert.serialNumber.isEqual(rid.serialNumber) && r.cert.issuer.isEqual(rid.issuer));
    if (recipient) {
      found = { info, recipient };
      break;
    }
  }
  if (!found) throw new ScepFailure('badMessageCheck', `${UNKNOWN_RECIPIENT} (fetch GetCACert again)`);
  if (found.info.keyEncryptionAlgorithm.algorithmId !== RSA_ENCRYPTION) {
    throw new ScepFailure('badAlg', `key transport ${found.info.keyEncryptionAlgorithm.algorithmId} is not supported (RSA PKCS#1 v1.5 only)`);
  }
  const eci = enveloped.encryptedContentInfo;
  const cipher = CIPHERS[eci.contentEncryptionAlgorithm.algorithmId];
  if (!cipher) throw new ScepFailure('badAlg', `content encryption ${eci.contentEncryptionAlgorithm.algorithmId} is not supported (AES-CBC, 3DES)`);
  let iv: Buffer;
  let ciphertext: Buffer;
  try {
    iv = octets(eci.contentEncryptionAlgorithm.algorithmParams);
    ciphertext = bytesOf(eci.getEncryptedContent());
  } catch {
    throw new ScepFailure('badMessageCheck', 'the envelope has no IV or no encrypted content');
  }
  if (iv.length !== cipher.ivLength) throw new ScepFailure('badMessageCheck', 'the IV does not fit the cipher');
  return { recipient: found.recipient, encryptedKey: bytesOf(found.info.encryptedKey.valueBlock.valueHexView), cipher, iv, ciphertext };
}

/**
 * The content under the unwrapped key; `cek` null when the key transport was refused (a token's
 * decryption, which has no implicit rejection).
 */
export function decryptContent(addressed: Omit<AddressedEnvelope<unknown>, 'recipient'>, cek: Buffer | null): Buffer {
  const { cipher, iv, ciphertext } = addressed;
  if (!cek) throw new ScepFailure('badMessageCheck', 'the envelope cannot be decrypted');
  // A key of the wrong length (a synthetic one, or a client's mistake) still decrypts, with a key
  // derived from it, so that it costs the same and fails the same way.
  const keyFits = cek.length === cipher.keyLength;
  const key = keyFits ? cek : createHash('sha512').update(cek).digest().subarray(0, cipher.keyLength);
  let content: Buffer | undefined;
  try {
    const decipher = createDecipheriv(cipher.name, key, iv);
    content = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    content = undefined;
  }
  if (!keyFits || !content) throw new ScepFailure('badMessageCheck', 'the envelope cannot be decrypted');
  return content;
}

/** Encrypts `content` for the holder of `recipient`'s key: RSA PKCS#1 v1.5 key transport, `cipher` for the content. */
export function buildEnvelope(content: Buffer, recipient: Pick<Signer, 'issuerDer' | 'serial' | 'publicKey'>, cipher: ContentCipher): Buffer {
  const cek = randomBytes(cipher.keyLength);
  const iv = randomBytes(cipher.ivLength);
  const c = createCipheriv(cipher.name, cek, iv);
  const ciphertext = Buffer.concat([c.update(content), c.final()]);
  const encryptedKey = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  const enveloped = new pkijs.EnvelopedData({
    version: 0,
    recipientInfos: [
      new pkijs.RecipientInfo({
        variant: 1,
        value: new pkijs.KeyTransRecipientInfo({
          version: 0,
          rid: issuerAndSerial(recipient),
          keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: RSA_ENCRYPTION, algorithmParams: new asn1js.Null() }),
          encryptedKey: new asn1js.OctetString({ valueHex: encryptedKey }),
        }),
      }),
    ],
    encryptedContentInfo: new pkijs.EncryptedContentInfo({
      contentType: CMS.data,
      contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: cipher.oid, algorithmParams: new asn1js.OctetString({ valueHex: iv }) }),
      // One primitive [0]: some clients' parsers know no indefinite lengths.
      encryptedContent: new asn1js.OctetString({ valueHex: ciphertext }),
      disableSplit: true,
    }),
  });
  return toDer(new pkijs.ContentInfo({ contentType: CMS.envelopedData, content: enveloped.toSchema() }).toSchema());
}
