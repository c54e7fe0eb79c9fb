import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'certgate-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export type KeySpec = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-1024';

/** Makes a key and a CSR with openssl, as a user would. Returns the CSR PEM and the key path. */
export function makeCsr(dir: string, opts: { key?: KeySpec; subject?: string; san?: string[]; name?: string } = {}): { csrPem: string; keyPath: string } {
  const name = opts.name ?? `req-${Math.random().toString(36).slice(2)}`;
  const keyPath = join(dir, `${name}.key`);
  const key = opts.key ?? 'ec-p256';
  const newkey = key.startsWith('ec')
    ? ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${key === 'ec-p256' ? 'P-256' : 'P-384'}`]
    : ['-newkey', `rsa:${key.slice(4)}`];
  const args = ['req', '-new', ...newkey, '-nodes', '-keyout', keyPath, '-subj', opts.subject ?? '/CN=host1.test'];
  if (opts.san?.length) args.push('-addext', `subjectAltName=${opts.san.join(',')}`);
  const csrPem = openssl(args);
  return { csrPem, keyPath };
}

/** `openssl verify` against a root, with the issuing CA as untrusted intermediate. Returns stdout; throws on failure. */
export function opensslVerify(dir: string, rootPem: string, intermediatePem: string, leafPem: string): string {
  const root = join(dir, 'root.pem');
  const inter = join(dir, 'issuing.pem');
  const leaf = join(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(root, rootPem);
  writeFileSync(inter, intermediatePem);
  writeFileSync(leaf, leafPem);
  return openssl(['verify', '-CAfile', root, '-untrusted', inter, leaf]);
}

export function x509Text(pem: string): string {
  return openssl(['x509', '-noout', '-text'], pem);
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
