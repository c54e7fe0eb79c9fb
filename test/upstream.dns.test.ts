// dns-01 publishers for upstream ACME orders: RFC 2136 updates with TSIG against a real BIND 9
// (records checked with dig, an independent client), and the operator's hook command.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsPublishError, type DnsChallengePublisher } from '../src/ca/upstream/dnsChallenge.js';
import { hookPublisher } from '../src/ca/upstream/dnsHook.js';
import { dnsPublisherFor, parseDnsServer } from '../src/ca/upstream/dnsPublishers.js';
import { exchangeTcp } from '../src/ca/upstream/dnsTcp.js';
import { rfc2136Publisher, type Rfc2136Settings } from '../src/ca/upstream/rfc2136.js';
import { upstreamCaOptions } from '../src/cli/upstreamCaOptions.js';
import { bindMissingReason, BIND_ZONE, startBind, type BindKey, type RunningBind } from './harness/bind.js';
import { findBinary, missingBinaryReason } from './harness/binaries.js';
import { tempDir } from './helpers/openssl.js';
import { processesIn } from './helpers/processes.js';
import { until } from './helpers/until.js';

const run = promisify(execFile);
const skipBind = bindMissingReason() ?? missingBinaryReason('dig', 'apt-get install -y bind9-dnsutils');

/** What BIND serves now at `name` (TXT), asked with dig. */
async function servedTxt(bind: RunningBind, name: string): Promise<string[]> {
  const { stdout } = await run(findBinary('dig') as string, ['+short', '+norecurse', '-p', String(bind.port), '@127.0.0.1', 'TXT', name]);
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^"|"$/g, ''))
    .sort();
}

async function failure(promise: Promise<unknown>): Promise<DnsPublishError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the publisher should have failed').toBeInstanceOf(DnsPublishError);
  return err as DnsPublishError;
}

/** A TCP DNS "server" that answers each message with `answer(request)`, or never when it returns null. */
async function fakeServer(answer: (request: Buffer) => Promise<Buffer | null>): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const request = received.subarray(2, 2 + received.readUInt16BE(0));
      void answer(request).then((a) => {
        if (!a) return;
        const length = Buffer.alloc(2);
        length.writeUInt16BE(a.length);
        socket.end(Buffer.concat([length, a]));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends `request` to the real server and returns its answer. */
function relay(bind: RunningBind, request: Buffer): Promise<Buffer> {
  return exchangeTcp({ host: bind.host, port: bind.port }, request, 10_000);
}

describe.skipIf(skipBind)('RFC 2136 dynamic updates with TSIG, against BIND 9', () => {
  let bind: RunningBind;
  const settingsFor = (key: BindKey, extra: Partial<Rfc2136Settings> = {}): Rfc2136Settings => ({
    server: { host: bind.host, port: bind.port },
    keyName: key.name,
    algorithm: key.algorithm,
    secret: key.secret,
    ...extra,
  });
  let publisher: DnsChallengePublisher;

  beforeAll(async () => {
    bind = (await startBind()) as RunningBind;
    publisher = rfc2136Publisher(settingsFor(bind.key));
  });
  afterAll(async () => {
    await bind?.stop();
  });

  it('adds a TXT record the server then answers, and removes it again', async () => {
    const name = `_acme-challenge.www.${BIND_ZONE}`;
    await publisher.add(name, 'token-value-1');
    // add resolves only once the server answers the record: no waiting here.
    expect(await servedTxt(bind, name)).toEqual(['token-value-1']);
    await publisher.remove(name, 'token-value-1');
    expect(await servedTxt(bind, name)).toEqual([]);
    // Removing what is not there is no error.
    await publisher.remove(name, 'token-value-1');
  });

  it('removes only its own value when two challenges share a name (a wildcard and its base name)', async () => {
    const name = `_acme-challenge.shared.${BIND_ZONE}.`;
    await publisher.add(name, 'for-the-base-name');
    await publisher.add(name, 'for-the-wildcard');
    expect(await servedTxt(bind, name)).toEqual(['for-the-base-name', 'for-the-wildcard']);
    await publisher.remove(name, 'for-the-wildcard');
    expect(await servedTxt(bind, name)).toEqual(['for-the-base-name']);
    await publisher.remove(name, 'for-the-base-name');
    expect(await servedTxt(bind, name)).toEqual([]);
  });

  it('signs with HMAC-SHA512 and uses the zone it is given', async () => {
    const p = rfc2136Publisher(settingsFor(bind.key512, { zone: BIND_ZONE }));
    const name = `_acme-challenge.sha512.${BIND_ZONE}`;
    await p.add(name, 'signed-with-sha512');
    expect(await servedTxt(bind, name)).toEqual(['signed-with-sha512']);
    await p.remove(name, 'signed-with-sha512');
    expect(await servedTxt(bind, name)).toEqual([]);
  });

  it('says the secret is wrong (BADSIG), and never shows it', async () => {
    const wrong = { ...bind.key, secret: Buffer.alloc(32, 7) };
    const err = await failure(rfc2136Publisher(settingsFor(wrong)).add(`_acme-challenge.badsig.${BIND_ZONE}`, 'v'));
    expect(err.message).toMatch(/BADSIG: .*secret is wrong/);
    expect(err.message).toContain(`"${bind.key.name}"`);
    expect(err.transient).toBe(false);
    expect(err.message).not.toContain(wrong.secret.toString('base64'));
    expect(err.message).not.toContain(bind.key.secret.toString('base64'));
    expect(await servedTxt(bind, `_acme-challenge.badsig.${BIND_ZONE}`)).toEqual([]);
  });

  it('says the server does not know the key (BADKEY)', async () => {
    const err = await failure(rfc2136Publisher(settingsFor({ ...bind.key, name: 'no-such-key' })).add(`_acme-challenge.badkey.${BIND_ZONE}`, 'v'));
    expect(err.message).toMatch(/BADKEY: the server does not know this key/);
    expect(err.message).toContain('"no-such-key"');
  });

  it('says the clocks differ too much (BADTIME), from an answer the server signed', async () => {
    const anHourBehind = () => new Date(Date.now() - 3_600_000);
    const err = await failure(rfc2136Publisher(settingsFor(bind.key, { now: anHourBehind })).add(`_acme-challenge.badtime.${BIND_ZONE}`, 'v'));
    expect(err.message).toMatch(/BADTIME: the clocks of certgate and the DNS server differ by more than five minutes/);
  });

  it('says the key may not update a name in a zone it has no right to (REFUSED)', async () => {
    const name = '_acme-challenge.www.locked.certgate';
    const err = await failure(publisher.add(name, 'v'));
    expect(err.message).toMatch(/REFUSED: the key "certgate-test" may not update _acme-challenge\.www\.locked\.certgate in the zone locked\.certgate/);
    expect(await servedTxt(bind, name)).toEqual([]);
  });

  it('refuses a name outside every zone the server serves, and outside the zone it was given', async () => {
    const lookedUp = await failure(publisher.add('_acme-challenge.example.org', 'v'));
    expect(lookedUp.message).toMatch(/serves no zone that contains _acme-challenge\.example\.org \(its SOA lookup answered REFUSED\)/);
    const given = await failure(rfc2136Publisher(settingsFor(bind.key, { zone: BIND_ZONE })).add('_acme-challenge.example.org', 'v'));
    expect(given.message).toMatch(/_acme-challenge\.example\.org is not inside the zone test\.certgate/);
    // Told a zone the server does not hold, the server itself says so.
    const notAuth = await failure(rfc2136Publisher(settingsFor(bind.key, { zone: 'example.org' })).add('_acme-challenge.example.org', 'v'));
    expect(notAuth.message).toMatch(/NOTAUTH: the server is not the primary for the zone example\.org/);
  });

  it('does not believe an answer that claims success without the key\'s signature for this request', async () => {
    // A man in the middle turns the server's REFUSED into NOERROR: the signature no longer matches.
    const tampering = await fakeServer(async (request) => {
      const answer = Buffer.from(await relay(bind, request));
      answer.writeUInt16BE(answer.readUInt16BE(2) & ~0xf, 2);
      return answer;
    });
    // A server that answers NOERROR with no signature at all.
    const unsigned = await fakeServer(async (request) => {
      const answer = Buffer.from(request.subarray(0, 12));
      answer.writeUInt16BE(0x8000 | (5 << 11), 2);
      answer.fill(0, 4);
      return answer;
    });
    try {
      const forged = await failure(
        rfc2136Publisher({ ...settingsFor(bind.key, { zone: 'locked.certgate' }), server: { host: '127.0.0.1', port: tampering.port } }).add('x.locked.certgate', 'v'),
      );
      expect(forged.message).toMatch(/claims success but is not trusted: its signature does not match the key/);
      const bare = await failure(
        rfc2136Publisher({ ...settingsFor(bind.key, { zone: BIND_ZONE }), server: { host: '127.0.0.1', port: unsigned.port } }).add(`x.${BIND_ZONE}`, 'v'),
      );
      expect(bare.message).toMatch(/claims success but is not trusted: it is not signed/);
    } finally {
      await tampering.close();
      await unsigned.close();
    }
  });

  it('says when the server does not answer, as worth retrying', async () => {
    const silent = await fakeServer(async () => null);
    try {
      const err = await failure(
        rfc2136Publisher({ ...settingsFor(bind.key, { zone: BIND_ZONE, timeoutMs: 300 }), server: { host: '127.0.0.1', port: silent.port } }).add(`x.${BIND_ZONE}`, 'v'),
      );
      expect(err.message).toMatch(/the DNS server 127\.0\.0\.1:\d+ did not answer within/);
      expect(err.transient).toBe(true);
    } finally {
      await silent.close();
    }
  });
});

describe('the dns hook publisher', () => {
  let dir: string;
  let calls: string;

  beforeAll(async () => {
    dir = tempDir('certgate-dnshook-');
    calls = join(dir, 'calls.log');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function script(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('runs the hook with add|remove, the name and the value, each one argument and no shell', async () => {
    const hook = await script('record.sh', `for a in "$@"; do printf '[%s]' "$a" >> '${calls}'; done; echo >> '${calls}'`);
    const publisher = hookPublisher(hook);
    const value = 'abc $(touch pwned) ; "quoted"';
    await publisher.add('_acme-challenge.www.example.test.', value);
    await publisher.remove('_acme-challenge.www.example.test', value);
    expect((await readFile(calls, 'utf8')).split('\n').filter(Boolean)).toEqual([
      `[add][_acme-challenge.www.example.test][${value}]`,
      `[remove][_acme-challenge.www.example.test][${value}]`,
    ]);
  });

  it("does not hand the hook certgate's environment", async () => {
    const envFile = join(dir, 'env.txt');
    const hook = await script('env.sh', `env > '${envFile}'`);
    process.env.CERTGATE_TEST_SECRET_FOR_HOOK = 'must-not-leak';
    try {
      await hookPublisher(hook).add('x.example.test', 'v');
    } finally {
      delete process.env.CERTGATE_TEST_SECRET_FOR_HOOK;
    }
    const env = await readFile(envFile, 'utf8');
    expect(env).toMatch(/^PATH=/m);
    expect(env).not.toContain('must-not-leak');
  });

  it("fails with the hook's exit code and the last lines of its stderr; 75 means try again later", async () => {
    const failing = await script('fail.sh', `for i in 1 2 3 4 5 6 7; do echo "line $i" >&2; done; echo "zone not found for $2" >&2; exit 3`);
    const err = await failure(hookPublisher(failing).add('_acme-challenge.x.example.test', 'v'));
    expect(err.message).toContain(`the dns hook ${failing} add _acme-challenge.x.example.test failed (exit code 3)`);
    expect(err.message).toContain('line 4 | line 5 | line 6 | line 7 | zone not found for _acme-challenge.x.example.test');
    expect(err.message).not.toContain('line 3');
    expect(err.transient).toBe(false);

    const tempfail = await script('tempfail.sh', 'echo "provider API down" >&2; exit 75');
    const later = await failure(hookPublisher(tempfail).remove('x.example.test', 'v'));
    expect(later.message).toMatch(/failed \(exit code 75\); its stderr ends: provider API down/);
    expect(later.transient).toBe(true);

    const missing = await failure(hookPublisher(join(dir, 'no-such-hook')).add('x.example.test', 'v'));
    expect(missing.message).toMatch(/could not be run: ENOENT/);
  });

  it('kills a hook that does not finish in time, and whatever it started', async () => {
    const pidFile = join(dir, 'hung.pid');
    const hung = await script('hung.sh', `echo $$ > '${pidFile}'; echo "waiting for the provider" >&2; sleep 300 & wait`);
    const err = await failure(hookPublisher(hung, { timeoutMs: 1_000 }).add('x.example.test', 'v'));
    expect(err.message).toMatch(/did not finish within 1 s and was killed; its stderr ends: waiting for the provider/);
    expect(err.transient).toBe(true);
    // The hook ran in a process group of its own (its pid is the group's id): nothing of it is left.
    const pgid = Number((await readFile(pidFile, 'utf8')).trim());
    await until(() => processesIn([pgid]).length === 0, 10_000, 'the hook and its sleep were gone');
  });
});

describe("an upstream CA's dns-01 settings", () => {
  const rfc2136 = { kind: 'rfc2136' as const, server: '127.0.0.1:1', zone: 'example.test', tsigKeyName: 'k', tsigAlgorithm: 'hmac-sha256', tsigSecretEnv: 'CERTGATE_TEST_UNSET_TSIG_SECRET' };

  it('reads DNS servers as host[:port], port 53 by default', () => {
    expect(parseDnsServer('ns1.example.test')).toEqual({ host: 'ns1.example.test', port: 53 });
    expect(parseDnsServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseDnsServer('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseDnsServer('[2001:db8::1]')).toEqual({ host: '2001:db8::1', port: 53 });
    for (const bad of ['', '::1', 'host:0', 'host:70000', 'host:53:53', 'a b', '[::1']) expect(parseDnsServer(bad), bad).toBeNull();
  });

  it('refuses to publish without the secret, naming the variable (never a value)', async () => {
    delete process.env.CERTGATE_TEST_UNSET_TSIG_SECRET;
    const err = await failure(dnsPublisherFor('up', rfc2136).add('x.example.test', 'v'));
    expect(err.message).toBe('CA "up": the environment variable CERTGATE_TEST_UNSET_TSIG_SECRET is empty; it must hold the TSIG secret (base64)');
    expect(err.transient).toBe(false);
    process.env.CERTGATE_TEST_UNSET_TSIG_SECRET = 'not base64!';
    try {
      const notBase64 = await failure(dnsPublisherFor('up', rfc2136).add('x.example.test', 'v'));
      expect(notBase64.message).toMatch(/does not hold a base64 TSIG secret/);
      expect(notBase64.message).not.toContain('not base64!');
    } finally {
      delete process.env.CERTGATE_TEST_UNSET_TSIG_SECRET;
    }
    const badAlgorithm = await failure(dnsPublisherFor('up', { ...rfc2136, tsigAlgorithm: 'hmac-md5' }).add('x.example.test', 'v'));
    expect(badAlgorithm.message).toMatch(/TSIG algorithm "hmac-md5" is not one of hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha1/);
  });

  it('ca create refuses a DNS server, TSIG algorithm or hook that cannot work', () => {
    const dir = tempDir('certgate-dnsopts-');
    try {
      const chain = join(dir, 'chain.pem');
      writeFileSync(chain, '');
      const options = { name: 'up', upstreamAcme: 'https://127.0.0.1:1/dir', upstreamChainFile: chain, challenge: 'dns-01', dnsServer: '127.0.0.1:53', dnsZone: 'example.test', tsigKeyName: 'k', tsigAlgorithm: 'hmac-sha256', tsigSecretEnv: 'X' };
      expect(() => upstreamCaOptions({ ...options, dnsServer: 'host:99999' })).toThrow(/--dns-server "host:99999" is not HOST\[:PORT\]/);
      expect(() => upstreamCaOptions({ ...options, tsigAlgorithm: 'hmac-md5' })).toThrow(/--tsig-algorithm "hmac-md5": give one of hmac-sha256/);
      expect(() => upstreamCaOptions({ ...options, dnsServer: undefined, dnsHook: join(dir, 'no-such-hook') })).toThrow(/--dns-hook .*no-such-hook is not an executable file/);
      expect(() => upstreamCaOptions({ ...options, dnsServer: undefined, dnsHook: chain })).toThrow(/is not an executable file/);
      expect(upstreamCaOptions(options).challenge).toEqual({
        type: 'dns-01',
        publisher: { kind: 'rfc2136', server: '127.0.0.1:53', zone: 'example.test', tsigKeyName: 'k', tsigAlgorithm: 'hmac-sha256', tsigSecretEnv: 'X' },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
