// The master key at start-up: where it comes from, and the refusal to guess. Everything sealed at
// rest (CA keys, signer keys, escrowed keys, credential secrets, the audit chain's links) is
// sealed under it, so a process that starts with no key, or the wrong one, for data sealed under
// another, can serve nothing: it would say "ready" and then fail every issuance. So a new key is
// made only for a new, empty deployment, and an existing one must open with the key it was made
// with, checked against what it sealed.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainKeyOf, isUnkeyed, sealedUnder } from './audit/chain.js';
import { decryptPrivateKey, envelopeSecretKind } from './ca/keyProtection.js';
import { ConfigError, ENV_NAMES, type Config } from './config.js';
import type { Store } from './store/types.js';

export interface ResolvedMasterKey {
  key: string;
  /** Where it came from, for messages: the environment (or config file), or the key file. */
  source: 'config' | 'file';
  /** Made just now, because there was none: written (by persistNewMasterKey) only once the deployment is known to be empty. */
  fresh: boolean;
  file: string;
}

export const masterKeyFile = (config: Config): string => join(config.dataDir, 'master.key');

/**
 * Where `master-key rotate` keeps the new key until its transaction has committed; renamed over
 * master.key after. Found beside a master.key the database refuses, it is the key the database
 * was rotated to by a process that died before the rename.
 */
export const pendingMasterKeyFile = (keyFile: string): string => `${keyFile}.new`;

function pendingRotationHint(resolved: ResolvedMasterKey): string {
  const pending = pendingMasterKeyFile(resolved.file);
  return resolved.source === 'file' && existsSync(pending)
    ? `. ${pending} exists: a master-key rotation committed but died before putting its key in place; move it over (mv ${pending} ${resolved.file}) and start again`
    : '';
}

/**
 * The master key protects everything sealed at rest. Scaled out it must come from the
 * environment (every process needs the same one); embedded, it may live in `master.key` in the
 * data directory, which is made on the first start of a new deployment (see checkMasterKey).
 */
export function resolveMasterKey(config: Config): ResolvedMasterKey {
  const file = masterKeyFile(config);
  if (config.masterKey) return { key: config.masterKey, source: 'config', fresh: false, file };
  if (config.databaseUrl) throw new ConfigError(`${ENV_NAMES.masterKey} (masterKey): required when DATABASE_URL is set`);
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), source: 'file', fresh: false, file };
  return { key: randomBytes(32).toString('base64url'), source: 'file', fresh: true, file };
}

/**
 * Writes a fresh key, unless another process starting on the same new directory wrote one
 * first: then that one is the key, and is returned.
 */
export function persistNewMasterKey(resolved: ResolvedMasterKey, dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(resolved.file, resolved.key + '\n', { mode: 0o600, flag: 'wx' });
    return resolved.key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFileSync(resolved.file, 'utf8').trim();
  }
}

const where = (config: Config): string => (config.databaseUrl ? 'the database' : `the data directory ${config.dataDir}`);

/**
 * Throws a ConfigError when the store holds data sealed under a master key and `resolved` is not
 * that key: made up just now (there was none), or another one. The check opens one CA key sealed
 * under the master key; with none (only passphrase-protected CAs, or no CA yet), the audit
 * trail's last entry, whose link is keyed by it.
 */
export async function checkMasterKey(store: Store, resolved: ResolvedMasterKey, config: Config): Promise<void> {
  const cas = await store.cas.list();
  const head = await store.audit.head();
  if (resolved.fresh) {
    if (cas.length > 0 || head) {
      throw new ConfigError(
        `${where(config)} holds an existing deployment (${cas.length} CA(s), an audit trail), but no master key was given: ` +
          `set ${ENV_NAMES.masterKey} to the key it was created with (or restore ${resolved.file}). ` +
          'certgate never makes a new key for existing data: nothing sealed under the old one would open.',
      );
    }
    return;
  }
  const named = resolved.source === 'file' ? resolved.file : ENV_NAMES.masterKey;
  const sealed = cas.find((ca) => envelopeSecretKind(ca.encryptedKey) === 'master');
  if (sealed?.encryptedKey) {
    try {
      decryptPrivateKey(sealed.encryptedKey, resolved.key);
      return;
    } catch {
      throw new ConfigError(`the master key in ${named} is not the one ${where(config)} was created with: the key of CA "${sealed.name}" does not open with it${pendingRotationHint(resolved)}`);
    }
  }
  const chainKey = chainKeyOf(resolved.key);
  if (head && !sealedUnder(chainKey, head) && !isUnkeyed(chainKey, head)) {
    throw new ConfigError(
      `the master key in ${named} is not the one ${where(config)} was created with: the audit trail's last entry (${head.seq}) is not sealed under it ` +
        `(or that entry was forged)${pendingRotationHint(resolved)}`,
    );
  }
}
