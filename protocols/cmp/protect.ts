// The front-end's one door to the codec's protection (protection.ts): what a request's protection
// is, whether it verifies, and the protection of an answer (a MAC with the request's secret and
// a fresh salt, or the CMP signer's signature).
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { AlgorithmId, PkiMessage } from './messages.js';
import { macMatches, macOf, readMacAlgorithm, responseMacAlgorithm, signatureProtector, verifySignatureProtection } from './protection.js';

/** Whether the protectionAlg is a MAC (PBM or PBMAC1) rather than a signature. */
export function isMacProtected(alg: AlgorithmId): boolean {
  return readMacAlgorithm(alg) !== null;
}

/** Checks the message's MAC with a candidate secret (the credential kind tries the live ones). */
export function macVerifier(message: PkiMessage): (secret: string) => boolean {
  const alg = message.header.protectionAlg as AlgorithmId;
  return (secret) => macMatches(alg, Buffer.from(secret, 'utf8'), message.protectedPartDer, message.protection as Buffer);
}

export function signatureVerifies(message: PkiMessage, signer: X509Certificate): boolean {
  return verifySignatureProtection(message.protectedPartDer, message.header.protectionAlg as AlgorithmId, message.protection as Buffer, signer);
}

export interface Protection {
  alg: AlgorithmId;
  protect(protectedPartDer: Buffer): Buffer;
}

export function macProtection(requestAlg: AlgorithmId, secret: string): Protection {
  const alg = responseMacAlgorithm(requestAlg);
  return { alg, protect: (data) => macOf(alg, Buffer.from(secret, 'utf8'), data) };
}

export function signatureProtection(key: KeyObject): Protection {
  return signatureProtector(key);
}
