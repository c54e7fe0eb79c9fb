// A throwaway Pebble (Let's Encrypt's test ACME server, Debian `pebble`) as an upstream ACME CA:
// loopback only, free ports, its own TLS certificate made with openssl in a temp dir (Pebble serves
// HTTPS only; clients trust `caFile`), its DNS pointed at a test answerer, http-01 validation sent to
// `httpPort` (certgate's own HTTP listener in the upstream tests). stop() kills it and removes the dir.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { findBinary, missingBinaryReason } from './binaries.js';
import { freePort } from '../helpers/net.js';

export interface PebbleOptions {
  /** "127.0.0.1:<port>" of the DNS server Pebble resolves names with (test/helpers/dnsServer.ts). */
  dnsServer: string;
  /** Port Pebble connects to on a name's address for http-01. */
  httpPort: number;
  /** Port Pebble connects to for tls-alpn-01 (unused by certgate; a free port by default). */
  tlsPort?: number;
  /** Require external account binding, with these kid → base64url HMAC keys. */
  eabKeys?: Record<string, string>;
  /** Extra environment (e.g. PEBBLE_AUTHZREUSE). */
  env?: Record<string, string>;
}

export interface CertStatus {
  /** "Valid" or "Revoked" (Pebble's words). */
  Status: string;
  Serial: string;
  Reason?: number;
  RevokedAt?: string;
  Certificate?: string;
}

export interface RunningPebble {
  /** https://127.0.0.1:<port>/dir */
  directoryUrl: string;
  /** PEM file of the CA that signed Pebble's TLS certificate (for --upstream-ca-file). */
  caFile: string;
  /** The same, as text. */
  caPem: string;
  managementUrl: string;
  /** The root that issues ACME certificates, from the management interface (/roots/0). */
  root(): Promise<string>;
  /** The intermediate, from /intermediates/0. */
  intermediate(): Promise<string>;
  /** Pebble's view of a certificate, by serial (hex, any case, leading zeros allowed). Null when unknown. */
  certStatus(serialHex: string): Promise<CertStatus | null>;
  /** Everything Pebble printed so far (orders, validations), for counting and for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

export async function startPebble(options: PebbleOptions): Promise<RunningPebble | null> {
  if (missingBinaryReason('pebble', 'apt-get install pebble')) return null;
  const bin = findBinary('pebble') as string;
  const dir = await mkdtemp(join(tmpdir(), 'certgate-pebble-'));
  try {
    return await startIn(bin, dir, options);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A TLS CA and a certificate for 127.0.0.1 and localhost signed by it, made with openssl in `dir` (also for fake upstreams). */
export function makeTlsCertificate(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const caKey = join(dir, 'tls-ca.key');
  const caFile = join(dir, 'tls-ca.pem');
  const keyFile = join(dir, 'tls.key');
  const csrFile = join(dir, 'tls.csr');
  const certFile = join(dir, 'tls.pem');
  const extFile = join(dir, 'tls.ext');
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caFile,
    '-subj', '/CN=pebble test TLS CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=127.0.0.1']);
  execFileSync('sh', ['-c', `printf '%s\\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'extendedKeyUsage=serverAuth' > "$1"`, 'sh', extFile]);
  run(['x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', extFile]);
  return { caFile, certFile, keyFile };
}

async function startIn(bin: string, dir: string, options: PebbleOptions): Promise<RunningPebble> {
  const { caFile, certFile, keyFile } = makeTlsCertificate(dir);
  const caPem = await readFile(caFile, 'utf8');
  const port = await freePort();
  const managementPort = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: certFile,
      privateKey: keyFile,
      httpPort: options.httpPort,
      tlsPort: options.tlsPort ?? (await freePort()),
      ocspResponderURL: '',
      externalAccountBindingRequired: Boolean(options.eabKeys),
      ...(options.eabKeys ? { externalAccountMACKeys: options.eabKeys } : {}),
    },
  };
  const configFile = join(dir, 'pebble-config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const child = spawn(bin, ['-config', configFile, '-dnsserver', options.dnsServer], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0', ...options.env },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  const managementUrl = `https://127.0.0.1:${managementPort}`;
  const get = (url: string): Promise<{ status: number; body: string }> => httpsGet(url, caPem);

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    const up = await Promise.race([
      Promise.all([get(directoryUrl), get(`${managementUrl}/roots/0`)]).then(
        ([d, r]) => d.status === 200 && r.status === 200,
        () => false,
      ),
      exited.then(() => 'exited' as const),
    ]);
    if (up === true) break;
    if (up === 'exited' || Date.now() > deadline) {
      await stop();
      throw new Error(`pebble did not start (${up === 'exited' ? 'exited' : 'timeout'}); output:\n${output.split('\n').slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const text = async (path: string): Promise<string> => {
    const res = await get(`${managementUrl}${path}`);
    if (res.status !== 200) throw new Error(`pebble management ${path}: HTTP ${res.status}`);
    return res.body;
  };
  return {
    directoryUrl,
    caFile,
    caPem,
    managementUrl,
    root: () => text('/roots/0'),
    intermediate: () => text('/intermediates/0'),
    async certStatus(serialHex) {
      // Pebble prints serials as lower-case hex without leading zeros.
      const serial = serialHex.toLowerCase().replace(/^0+(?=.)/, '');
      const res = await get(`${managementUrl}/cert-status-by-serial/${serial}`);
      if (res.status === 404) return null;
      if (res.status !== 200) throw new Error(`pebble cert-status ${serial}: HTTP ${res.status}`);
      return JSON.parse(res.body) as CertStatus;
    },
    log: () => output,
    stop,
  };
}

function httpsGet(url: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout GET ${url}`)));
    req.on('error', reject);
  });
}
