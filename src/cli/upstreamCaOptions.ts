// `certgate ca create --upstream-acme …`: the command line's words turned into the upstream CA's
// settings, refusing combinations that cannot work. Secrets are named (environment variables),
// never given on the command line.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CreateUpstreamCaOptions } from '../ca/upstream/create.js';
import { AppError } from '../core/errors.js';

export interface UpstreamCaCliOptions {
  name: string;
  upstreamAcme?: string;
  upstreamChainFile?: string;
  upstreamCaFile?: string;
  eabKid?: string;
  eabHmacKeyEnv?: string;
  profile?: string;
  challenge: string;
  dnsHook?: string;
  dnsServer?: string;
  dnsZone?: string;
  tsigKeyName?: string;
  tsigAlgorithm: string;
  tsigSecretEnv?: string;
}

function bad(message: string): AppError {
  return new AppError('bad_request', message);
}

export function upstreamCaOptions(o: UpstreamCaCliOptions): CreateUpstreamCaOptions {
  const directory = o.upstreamAcme as string;
  let url: URL;
  try {
    url = new URL(directory);
  } catch {
    throw bad(`--upstream-acme "${directory}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw bad('--upstream-acme: an ACME directory is reached over https');
  if (!o.upstreamChainFile) throw bad('--upstream-acme needs --upstream-chain-file: the upstream\'s issuing certificate and its parents (PEM)');
  if (!!o.eabKid !== !!o.eabHmacKeyEnv) throw bad('--eab-kid and --eab-hmac-key-env go together');
  let eab: CreateUpstreamCaOptions['eab'];
  if (o.eabKid && o.eabHmacKeyEnv) {
    const hmacKey = process.env[o.eabHmacKeyEnv];
    if (!hmacKey) throw bad(`environment variable ${o.eabHmacKeyEnv} is empty`);
    eab = { kid: o.eabKid, hmacKey };
  }
  let challenge: CreateUpstreamCaOptions['challenge'];
  if (o.challenge === 'http-01') {
    if (o.dnsHook || o.dnsServer) throw bad('--dns-hook and --dns-server are for --challenge dns-01');
    challenge = { type: 'http-01' };
  } else if (o.challenge === 'dns-01') {
    if (!!o.dnsHook === !!o.dnsServer) throw bad('--challenge dns-01 needs either --dns-hook or --dns-server (with --dns-zone, --tsig-key-name, --tsig-secret-env)');
    if (o.dnsHook) challenge = { type: 'dns-01', publisher: { kind: 'hook', path: o.dnsHook } };
    else {
      if (!o.dnsZone || !o.tsigKeyName || !o.tsigSecretEnv) throw bad('--dns-server needs --dns-zone, --tsig-key-name and --tsig-secret-env');
      challenge = {
        type: 'dns-01',
        publisher: { kind: 'rfc2136', server: o.dnsServer as string, zone: o.dnsZone, tsigKeyName: o.tsigKeyName, tsigAlgorithm: o.tsigAlgorithm, tsigSecretEnv: o.tsigSecretEnv },
      };
    }
  } else throw bad(`--challenge "${o.challenge}": give http-01 or dns-01`);
  let issuerChainPem: string;
  try {
    issuerChainPem = readFileSync(o.upstreamChainFile, 'utf8');
    if (o.upstreamCaFile) readFileSync(o.upstreamCaFile, 'utf8');
  } catch (e) {
    throw bad(`cannot read ${(e as { path?: string }).path ?? 'a file'}: ${(e as Error).message}`);
  }
  return {
    name: o.name,
    directory,
    ...(eab ? { eab } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    challenge,
    // Kept as an absolute path: the gateway may start from another folder than the CLI.
    ...(o.upstreamCaFile ? { caFile: resolve(o.upstreamCaFile) } : {}),
    issuerChainPem,
  };
}
