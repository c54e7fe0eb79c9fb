// certConf's certHash (RFC 9810 §5.3.18): the certificate's hash with the hash of its own signature
// algorithm (RFC 9481 §2: SHA-512 for Ed25519), unless cmp2021's hashAlg names another.
import { createHash } from 'node:crypto';
import { algorithmOf, elementsOf, parseBer } from '../../src/pki/asn1.js';
import { OID, SIGNATURE_HASH } from '../../src/pki/oids.js';
import { CmpDecodeError } from './asn1Util.js';
import type { AlgorithmId } from './messages.js';

const HASH_OF_OID: Record<string, string> = { [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

/** The hash certConf must use for `certificateDer`; CmpDecodeError (badAlg) when certgate cannot tell or does not compute it. */
export function certHashAlgorithm(certificateDer: Buffer, hashAlg: AlgorithmId | null = null): string {
  if (hashAlg) return HASH_OF_OID[hashAlg.oid] ?? badAlg(`certConf hashAlg ${hashAlg.oid} is not supported`);
  const [, sigAlg] = elementsOf(parseBer(certificateDer, 'certificate'), 'certificate', 3);
  const oid = algorithmOf(sigAlg ?? null, 'certificate signature algorithm').oid;
  if (oid === OID.ed25519) return 'sha512';
  return SIGNATURE_HASH[oid] ?? badAlg(`the certificate's signature algorithm ${oid} names no hash certgate uses`);
}

export function certHash(certificateDer: Buffer, hashAlg: AlgorithmId | null = null): Buffer {
  return createHash(certHashAlgorithm(certificateDer, hashAlg)).update(certificateDer).digest();
}

function badAlg(message: string): never {
  throw new CmpDecodeError('badAlg', message);
}
