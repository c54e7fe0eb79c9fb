// Creating a CA whose key is made (or already is) in a PKCS#11 token. The record keeps only the
// reference (module, token, key label and id, where the PIN is read from): never the PIN or the key.
import type { AuditContext, CaRecord } from '../core/types.js';
import type { Store } from '../store/types.js';
import { certifyCa, type CaSecrets, type CreateCaOptions } from './createCa.js';
import { readPin, type PinSource, type Pkcs11Config } from './pkcs11/config.js';
import { findTokenKey, generateTokenKey, hasTokenKey, readTokenPublicKey, TokenSigner } from './pkcs11/keys.js';
import { tokenSessions } from './pkcs11/sessions.js';

export interface Pkcs11KeyChoice {
  module: string;
  token: string;
  keyLabel: string;
  pin: PinSource;
  /** Use the key already labelled keyLabel (its type decides the CA's key algorithm) instead of generating one. */
  existingKey: boolean;
}

export async function createPkcs11Ca(
  store: Store,
  opts: Omit<CreateCaOptions, 'passphrase'>,
  secrets: CaSecrets,
  by: AuditContext,
  choice: Pkcs11KeyChoice,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CaRecord> {
  if (await store.cas.getByName(opts.name)) throw new Error(`a CA named "${opts.name}" already exists`);
  // Before anything is made in the token, so that a refused CA leaves no key behind.
  if (opts.parentId && !(await store.cas.get(opts.parentId))) throw new Error(`parent CA ${opts.parentId} not found`);
  const sessions = tokenSessions({ module: choice.module, token: choice.token }, readPin(choice.pin, env));
  await sessions.check();
  let key;
  if (choice.existingKey) key = await findTokenKey(sessions, choice.keyLabel);
  else {
    if (await hasTokenKey(sessions, choice.keyLabel)) throw new Error(`the token already has a key labelled "${choice.keyLabel}": choose another label, or use it with --pkcs11-existing-key`);
    key = await generateTokenKey(sessions, choice.keyLabel, opts.keyAlgorithm);
  }
  const { spkiDer, algorithm } = await readTokenPublicKey(sessions, key);
  const backendConfig: Pkcs11Config = { module: choice.module, token: choice.token, keyLabel: key.label, keyId: key.idHex, pin: choice.pin };
  return certifyCa(store, { ...opts, keyAlgorithm: algorithm }, secrets, by, {
    spkiDer,
    selfSigner: new TokenSigner(sessions, key, algorithm),
    encryptedKey: null,
    backend: 'pkcs11',
    backendConfig,
  });
}
