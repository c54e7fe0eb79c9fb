// Certman spells key algorithms `ECDSA-P256`, `RSA-2048`; certgate's own spelling is `ec-p256`,
// `rsa-2048`. Answers use Certman's; inputs accept both.
import { z } from 'zod';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../src/core/types.js';

const CERTMAN_SPELLING: Readonly<Record<KeyAlgorithm, string>> = {
  'ec-p256': 'ECDSA-P256',
  'ec-p384': 'ECDSA-P384',
  'rsa-2048': 'RSA-2048',
  'rsa-3072': 'RSA-3072',
  'rsa-4096': 'RSA-4096',
};

export const CERTMAN_KEY_ALGORITHMS = Object.values(CERTMAN_SPELLING);

/** Certman's name for a key algorithm; a name certgate does not know is passed through. */
export const certmanKeyAlgorithm = (alg: string): string => CERTMAN_SPELLING[alg as KeyAlgorithm] ?? alg;

const BY_ANY_SPELLING = new Map<string, KeyAlgorithm>(KEY_ALGORITHMS.flatMap((a) => [[a, a], [CERTMAN_SPELLING[a].toLowerCase(), a]] as [string, KeyAlgorithm][]));

/** Either spelling in, certgate's out. */
export const keyAlgorithmInput = z
  .string()
  .max(32)
  .transform((text, ctx) => {
    const alg = BY_ANY_SPELLING.get(text.toLowerCase());
    if (!alg) {
      ctx.addIssue({ code: 'custom', message: `unknown key algorithm; use one of ${CERTMAN_KEY_ALGORITHMS.join(', ')}` });
      return z.NEVER;
    }
    return alg;
  })
  .meta({ type: 'string', enum: [...CERTMAN_KEY_ALGORITHMS, ...KEY_ALGORITHMS] });
