// `certgate master-key rotate`: the deployment sealed again under a new master key. The new key
// never comes as an argument (it would show in `ps` and in shell history): from a file, or from
// CERTGATE_NEW_MASTER_KEY. The database changes in one transaction (core/rekey); a key kept in
// data/master.key is replaced only after that commit, through master.key.new and a rename, so a
// crash leaves either the old key with the old data, or the new data with the new key beside it.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { ENV_NAMES, MASTER_KEY_MIN_LENGTH, type Config } from '../config.js';
import { AppError } from '../core/errors.js';
import type { ProtocolModule } from '../core/protocol.js';
import { rekeyDeployment, type RekeyCounts } from '../core/rekey.js';
import { pendingMasterKeyFile, resolveMasterKey } from '../masterKey.js';
import { openRuntime } from '../runtime.js';
import { jsonOption, print, type CliKit } from './kit.js';

export const NEW_MASTER_KEY_ENV = 'CERTGATE_NEW_MASTER_KEY';

function readNewKey(file: string | undefined): string {
  const fromEnv = process.env[NEW_MASTER_KEY_ENV];
  if (file && fromEnv) throw new AppError('bad_request', `give the new master key once: --new-key-file or ${NEW_MASTER_KEY_ENV}, not both`);
  let key: string;
  if (file) {
    try {
      key = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new AppError('bad_request', `cannot read the new master key from ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else if (fromEnv) {
    key = fromEnv.trim();
  } else {
    throw new AppError('bad_request', `no new master key: give --new-key-file FILE or set ${NEW_MASTER_KEY_ENV} (e.g. from \`openssl rand -base64 32\`); never as an argument`);
  }
  if (key.length < MASTER_KEY_MIN_LENGTH) throw new AppError('bad_request', `the new master key must be at least ${MASTER_KEY_MIN_LENGTH} characters`);
  return key;
}

/** Written and flushed to disk before the transaction commits, so that a committed rotation always has its key on disk. */
function writeKeyFile(path: string, key: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, key + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const LABELS: Record<string, string> = {
  ca_keys: 'CA keys',
  ocsp_signer_keys: 'OCSP signer keys',
  escrowed_keys: 'escrowed private keys',
  credential_secrets: 'credential secrets (ACME EAB keys, SCEP challenges)',
  webhook_secrets: 'webhook signing secrets',
  'scep.ra_keys': 'SCEP RA keys',
  'est.server_keys': 'EST server-generated keys',
  audit_entries: 'audit entries re-keyed',
};

const countsText = (counts: RekeyCounts): string =>
  Object.entries(counts)
    .map(([kind, n]) => `  ${String(n).padStart(6)}  ${LABELS[kind] ?? kind}`)
    .join('\n');

export function registerMasterKeyCommands(program: Command, config: CliKit['config'], protocols: () => readonly ProtocolModule[]): void {
  const masterKey = program.command('master-key').description('the master key everything at rest is sealed under');
  masterKey
    .command('rotate')
    .description(
      `seal everything again under a new master key (from --new-key-file or ${NEW_MASTER_KEY_ENV}) and re-key the audit chain, in one transaction; ` +
        'stop every other certgate process first',
    )
    .option('--new-key-file <file>', 'read the new master key from this file (the first line)')
    .addOption(jsonOption())
    .action(async (o: { newKeyFile?: string; json?: boolean }) => {
      const newKey = readNewKey(o.newKeyFile);
      const cfg: Config = config();
      const resolved = resolveMasterKey(cfg);
      if (resolved.fresh) throw new AppError('bad_request', `no master key is set (${ENV_NAMES.masterKey}, or ${resolved.file}): there is nothing to rotate`);
      const pending = pendingMasterKeyFile(resolved.file);
      // Refuses a key the database was not sealed under (and names a master.key.new left by a rotation that died before its rename).
      const rt = await openRuntime(cfg, { protocols: protocols() });
      try {
        if (resolved.source === 'file') {
          // A stale one (a rotation that rolled back) is overwritten: the database opened with master.key, so it holds nothing under that key.
          writeKeyFile(pending, newKey);
          // On stderr even with --json: it is the one line an operator needs if nothing else gets printed.
          console.error(`the new key is in ${pending} until the rotation commits; should this command die before it says "rotated", and certgate then refuse ${resolved.file}, run: mv ${pending} ${resolved.file}`);
        }
        let result;
        try {
          result = await rekeyDeployment({
            store: rt.store,
            oldKey: rt.secrets.masterKey,
            newKey,
            protocols: rt.protocols.map((p) => p.module),
            newKeySource: resolved.source === 'file' ? 'master.key in the data directory' : `${ENV_NAMES.masterKey} (kept by the operator)`,
          });
        } catch (e) {
          // Rolled back: the database is still under the current key, which stays where it was. A key
          // file means the embedded SQLite database (PostgreSQL needs the key in the config), where a
          // COMMIT that fails is rolled back, so no error here can follow a commit.
          if (resolved.source === 'file') rmSync(pending, { force: true });
          throw e;
        }
        if (resolved.source === 'file') renameSync(pending, resolved.file);
        const next = [
          resolved.source === 'file'
            ? `${resolved.file} now holds the new key (the old one no longer opens anything): back it up outside the data directory`
            : `the database is now sealed under the new key: set ${ENV_NAMES.masterKey} to it wherever it is kept (your secret store, every process's environment) before starting certgate again; the old key no longer opens anything`,
          'REST bearer tokens issued before now no longer verify (API keys still do): clients get new ones from /v1/auth/token',
          'checkpoints taken before now were signed under the old key: take a new one now: certgate audit checkpoint --out FILE',
        ];
        print(
          !!o.json,
          { rotated: true, resealed: result.counts, audit_seq: result.entry.seq, head_before: result.headBefore, key_file: resolved.source === 'file' ? resolved.file : null, next_steps: next },
          () => [`master key rotated (recorded as audit entry ${result.entry.seq}, master_key.rotate):`, countsText(result.counts), ...next.map((n) => `- ${n}`)].join('\n'),
        );
      } finally {
        await rt.close();
      }
    });
}
