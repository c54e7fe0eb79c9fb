// The front-end's one door to the codec's protection (protection.ts): what a request's protection
// is, whether it verifies, and the protection of an answer (a MAC with the request's key, or the
// CMP signer's signature).
import type { KeyObject, X509Certificate } from 'node:crypto';
import { OID } from '../../src/pki/oids.js';
import type { AlgorithmId, PkiMessage } from './messages.js';
import { deriveMacKey, macMatchesKey, macWithKey, readMacAlgorithm, signatureProtector, verifySignatureProtection, type MacKey } from './protection.js';

/** Whether the protectionAlg is a MAC (PasswordBasedMac or PBMAC1) rather than a signature. */
export const isMacProtected = (alg: AlgorithmId): boolean => alg.oid === OID.passwordBasedMac || alg.oid === OID.pbmac1;

/**
 * Checks the message's MAC with a candidate secret (the credential kind tries the live ones), and
 * gives the key of the one that verified, which protects the answer. The algorithm is read (and
 * its cost bounded) once, before any secret is tried: CmpDecodeError (badAlg) for one certgate
 * does not take.
 */
export function macVerifier(message: PkiMessage): (secret: string) => MacKey | null {
  const mac = readMacAlgorithm(message.header.protectionAlg as AlgorithmId);
  return (secret) => {
    const key = deriveMacKey(mac, secret);
    return macMatchesKey(key, message.protectedPartDer, message.protection as Buffer) ? key : null;
  };
}

/** An unknown or unsupported signature algorithm does not verify. */
export function signatureVerifies(message: PkiMessage, signer: X509Certificate): boolean {
  return verifySignatureProtection(message.header.protectionAlg as AlgorithmId, signer.publicKey, message.protectedPartDer, message.protection as Buffer);
}

export interface Protection {
  alg: AlgorithmId;
  protect(protectedPartDer: Buffer): Buffer;
}

/**
 * RFC 9483 §3.2: the answer to a MAC-protected request is protected with the same shared secret,
 * here with the request's MAC parameters and the key derived to check it: the salt is public, and
 * the two messages differ in body and nonces, so a second derivation would buy nothing.
 */
export function macProtection(key: MacKey): Protection {
  return { alg: key.mac.alg, protect: (data) => macWithKey(key, data) };
}

export function signatureProtection(key: KeyObject): Protection {
  const signer = signatureProtector(key);
  return { alg: signer.alg, protect: (data) => signer.sign(data) };
}
