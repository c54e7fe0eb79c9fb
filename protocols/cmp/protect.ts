// The front-end's one door to the codec's protection (protection.ts): what a request's protection
// is, whether it verifies, and the protection of an answer (a MAC with the request's secret and
// a fresh salt, or the CMP signer's signature).
import type { KeyObject, X509Certificate } from 'node:crypto';
import { OID } from '../../src/pki/oids.js';
import type { AlgorithmId, PkiMessage } from './messages.js';
import { macMatches, macOf, readMacAlgorithm, responseMacAlgorithm, signatureProtector, verifySignatureProtection } from './protection.js';

/** Whether the protectionAlg is a MAC (PasswordBasedMac or PBMAC1) rather than a signature. */
export const isMacProtected = (alg: AlgorithmId): boolean => alg.oid === OID.passwordBasedMac || alg.oid === OID.pbmac1;

/**
 * Checks the message's MAC with a candidate secret (the credential kind tries the live ones).
 * The algorithm is read (and its cost bounded) once, before any secret is tried: CmpDecodeError
 * (badAlg) for one certgate does not take.
 */
export function macVerifier(message: PkiMessage): (secret: string) => boolean {
  const mac = readMacAlgorithm(message.header.protectionAlg as AlgorithmId);
  return (secret) => macMatches(mac, secret, message.protectedPartDer, message.protection as Buffer);
}

/** An unknown or unsupported signature algorithm does not verify. */
export function signatureVerifies(message: PkiMessage, signer: X509Certificate): boolean {
  return verifySignatureProtection(message.header.protectionAlg as AlgorithmId, signer.publicKey, message.protectedPartDer, message.protection as Buffer);
}

export interface Protection {
  alg: AlgorithmId;
  protect(protectedPartDer: Buffer): Buffer;
}

/** RFC 9483 §3.2: the answer to a MAC-protected request uses the same MAC and secret, with a fresh salt. */
export function macProtection(requestAlg: AlgorithmId, secret: string): Protection {
  const mac = responseMacAlgorithm(readMacAlgorithm(requestAlg));
  return { alg: mac.alg, protect: (data) => macOf(mac, secret, data) };
}

export function signatureProtection(key: KeyObject): Protection {
  const signer = signatureProtector(key);
  return { alg: signer.alg, protect: (data) => signer.sign(data) };
}
