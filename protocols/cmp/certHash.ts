// The certHash of a certConf (RFC 9810 §5.3.18): the certificate's DER hashed with the hash of
// its own signature algorithm (SHA-512 for Ed25519), or with the hashAlg a cmp2021 client names.
import { createHash } from 'node:crypto';
import { children, readNode, readOid } from '../../src/pki/der.js';
import { OID, SIGNATURE_HASH } from '../../src/pki/oids.js';
import type { AlgorithmId } from './messages.js';

const HASH_OF_OID: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

function hashOfSignature(certificateDer: Buffer): string {
  const top = readNode(certificateDer, 0);
  const oid = readOid(certificateDer, children(certificateDer, top)[1], 'signatureAlgorithm');
  if (oid === OID.ed25519) return 'sha512';
  const hash = SIGNATURE_HASH[oid];
  if (!hash) throw new Error(`no certHash algorithm for signature algorithm ${oid}`);
  return hash;
}

/** Whether `presented` is the certHash of the certificate; an unknown hashAlg never matches. */
export function certHashMatches(certificateDer: Buffer, presented: Buffer, hashAlg: AlgorithmId | null): boolean {
  const hash = hashAlg ? HASH_OF_OID[hashAlg.oid] : hashOfSignature(certificateDer);
  if (!hash) return false;
  return createHash(hash).update(certificateDer).digest().equals(presented);
}
