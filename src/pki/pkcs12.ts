// PKCS#12 (RFC 7292) files: a private key with its certificate and chain, under a password, built
// with node-forge. forge's toPkcs12Asn1 takes only RSA keys and certificates it can parse (RSA
// ones), and certgate's keys and CAs are as often EC, so this assembles the same PFX as it does
// from DER: certificates as they are, the PKCS#8 key shrouded with forge's PBES2 (AES-256-CBC,
// PBKDF2-HMAC-SHA256), and forge's PKCS#12 key derivation for an HMAC-SHA256 MAC.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { OID } from './oids.js';

/**
 * The work factor `openssl pkcs12 -export` uses. forge derives keys in JavaScript on the event
 * loop, so this is about 10 ms of it, not seconds.
 */
const ITERATIONS = 2048;
const SALT_BYTES = 16;

const { asn1, pki } = forge;

const binary = (b: Buffer): string => b.toString('binary');
const seq = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
const set = (items: forge.asn1.Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items);
const oid = (dotted: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
const octets = (bytes: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
const integer = (n: number) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(n).getBytes());
const explicit0 = (inner: forge.asn1.Asn1) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const der = (value: forge.asn1.Asn1): string => asn1.toDer(value).getBytes();

/** A ContentInfo of type data around DER: how PKCS#12 nests its SafeContents. */
const dataContent = (inner: forge.asn1.Asn1) => seq([oid(OID.data), explicit0(octets(der(inner)))]);

export interface Pkcs12Input {
  key: KeyObject;
  /** DER, the key's certificate first, then its chain. */
  certificates: readonly Buffer[];
  password: string;
  /** Shown by key stores (Windows, Java keytool) as the entry's name. */
  friendlyName?: string;
}

export function buildPkcs12({ key, certificates, password, friendlyName }: Pkcs12Input): Buffer {
  const [leaf] = certificates;
  if (!leaf) throw new Error('a PKCS#12 file needs the key\'s certificate');
  // The key and its certificate are paired by this id, as openssl and forge pair them.
  const attributes = set([
    seq([oid(OID.localKeyId), set([octets(binary(createHash('sha1').update(leaf).digest()))])]),
    ...(friendlyName ? [seq([oid(OID.friendlyName), set([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, friendlyName)])])] : []),
  ]);

  const certBags = certificates.map((cert, i) =>
    seq([oid(OID.certBag), explicit0(seq([oid(OID.x509Certificate), explicit0(octets(binary(cert)))])), ...(i === 0 ? [attributes] : [])]),
  );

  const pkcs8 = asn1.fromDer(binary(key.export({ type: 'pkcs8', format: 'der' })));
  // PBKDF2 takes the password's UTF-8 bytes (as openssl does); the MAC's derivation below takes
  // it as UTF-16, as RFC 7292 B.1 says.
  const shrouded = pki.encryptPrivateKeyInfo(pkcs8, forge.util.encodeUtf8(password), { algorithm: 'aes256', prfAlgorithm: 'sha256', count: ITERATIONS, saltSize: SALT_BYTES });
  const keyBag = seq([oid(OID.pkcs8ShroudedKeyBag), explicit0(shrouded), attributes]);

  const authenticatedSafe = seq([dataContent(seq(certBags)), dataContent(seq([keyBag]))]);
  const safeDer = der(authenticatedSafe);

  const macSalt = binary(randomBytes(SALT_BYTES));
  const macKey = forge.pkcs12.generateKey(password, forge.util.createBuffer(macSalt, 'raw'), 3, ITERATIONS, 32, forge.md.sha256.create());
  const hmac = forge.hmac.create();
  hmac.start('sha256', macKey);
  hmac.update(safeDer);
  const macData = seq([seq([seq([oid(OID.sha256), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), octets(hmac.digest().getBytes())]), octets(macSalt), integer(ITERATIONS)]);

  const pfx = seq([integer(3), seq([oid(OID.data), explicit0(octets(safeDer))]), macData]);
  return Buffer.from(der(pfx), 'binary');
}
