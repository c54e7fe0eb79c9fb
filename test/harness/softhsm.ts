// A throwaway SoftHSM2 for a suite: its own config and token directory in a temp dir, named by
// SOFTHSM2_CONF (set in this process, so the gateway under test and the CLIs it spawns see it).
// A PKCS#11 module reads SOFTHSM2_CONF when it is initialized, once per process: a suite makes one
// SoftHSM with as many tokens as it needs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingBinaryReason } from './binaries.js';
import { tempDir } from '../helpers/openssl.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const SO_PIN = '87654321';

export interface SoftHsm {
  module: string;
  dir: string;
  /** Initializes a token in the next free slot. */
  initToken(label: string, pin: string): void;
  /** Takes the token's files away (as if it were unplugged) or brings them back. */
  unplug(label: string): void;
  plugBack(label: string): void;
  /** `pkcs11-tool --list-objects` for the token, as an operator would read it. */
  listObjects(label: string, pin: string): string;
  remove(): void;
}

/** null (the suite skips) when SoftHSM2 or pkcs11-tool is not installed. */
export function startSoftHsm(): SoftHsm | null {
  if (missingBinaryReason('softhsm2-util', 'apt-get install softhsm2') || missingBinaryReason('pkcs11-tool', 'apt-get install opensc')) return null;
  if (!existsSync(SOFTHSM_MODULE)) {
    missingBinaryReason('libsofthsm2.so', 'apt-get install softhsm2');
    return null;
  }
  const dir = tempDir('certgate-softhsm-');
  const tokens = join(dir, 'tokens');
  const away = join(dir, 'unplugged');
  mkdirSync(tokens);
  mkdirSync(away);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  // Each token is a folder named by a UUID; which folder holds which label is found by trying.
  const folders = new Map<string, string>();
  return {
    module: SOFTHSM_MODULE,
    dir,
    initToken(label, pin) {
      const before = new Set(readdirSync(tokens));
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', SO_PIN], { env, stdio: 'pipe' });
      const made = readdirSync(tokens).find((f) => !before.has(f));
      if (!made) throw new Error(`softhsm2-util made no token folder for ${label}`);
      folders.set(label, made);
    },
    unplug(label) {
      const f = folders.get(label) as string;
      renameSync(join(tokens, f), join(away, f));
    },
    plugBack(label) {
      const f = folders.get(label) as string;
      renameSync(join(away, f), join(tokens, f));
    },
    listObjects(label, pin) {
      return execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', label, '--login', '--pin', pin, '--list-objects'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
