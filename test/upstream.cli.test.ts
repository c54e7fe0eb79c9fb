// `certgate ca create --upstream-acme` as an operator runs it, against a Pebble that requires
// external account binding: refused without EAB and with a wrong HMAC key (Pebble's words), made
// with the right one; the record keeps the EAB key id and never the HMAC key, which appears nowhere
// in the database, and the account key is sealed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPebble, type RunningPebble } from './harness/pebble.js';
import { certgate, certgateAsync } from './helpers/certgateCli.js';
import { dataFiles } from './helpers/dataFiles.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { freePort } from './helpers/net.js';
import { tempDir } from './helpers/openssl.js';

const EAB_KID = 'kid-1';
const EAB_HMAC = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';

describe('certgate ca create --upstream-acme (Pebble requiring EAB)', () => {
  const dir = tempDir('certgate-upstream-cli-');
  const files = tempDir('certgate-upstream-cli-files-');
  let dns: StubDnsServer;
  let pebble: RunningPebble | null;
  let chainFile: string;
  const create = (name: string, extra: string[], env: Record<string, string> = {}) =>
    certgateAsync(dir, ['ca', 'create', '--name', name, '--upstream-acme', (pebble as RunningPebble).directoryUrl, '--upstream-chain-file', chainFile, '--upstream-ca-file', (pebble as RunningPebble).caFile, '--json', ...extra], env);

  beforeAll(async () => {
    dns = await startDnsServer();
    pebble = await startPebble({ dnsServer: dns.address, httpPort: await freePort(), eabKeys: { [EAB_KID]: EAB_HMAC } });
    if (!pebble) return;
    chainFile = join(files, 'chain.pem');
    writeFileSync(chainFile, (await pebble.intermediate()) + (await pebble.root()));
    const init = certgate(dir, ['init', '--json']);
    expect(init.code, init.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await pebble?.stop();
    await dns?.stop();
  });

  it('refuses without EAB and with a wrong key, creates with the right one; the HMAC key is stored nowhere', async () => {
    if (!pebble) return;
    const without = await create('no-eab', []);
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/requires external account binding.*--eab-kid/);

    const wrong = await create('wrong-eab', ['--eab-kid', EAB_KID, '--eab-hmac-key-env', 'UPSTREAM_EAB'], { UPSTREAM_EAB: Buffer.alloc(48, 7).toString('base64url') });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/upstream refused/i);

    const unset = await create('unset-eab', ['--eab-kid', EAB_KID, '--eab-hmac-key-env', 'UPSTREAM_EAB_UNSET']);
    expect(unset.code).not.toBe(0);
    expect(unset.stderr).toMatch(/UPSTREAM_EAB_UNSET is empty/);

    const made = await create('pebble', ['--eab-kid', EAB_KID, '--eab-hmac-key-env', 'UPSTREAM_EAB'], { UPSTREAM_EAB: EAB_HMAC });
    expect(made.code, made.stderr).toBe(0);
    expect(made.json()).toMatchObject({ name: 'pebble', backend: 'upstream-acme', type: 'issuing' });
    expect(made.json().subject).toMatch(/Pebble Intermediate CA/);

    const list = certgate(dir, ['ca', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((c) => c.name)).toContain('pebble');

    // Nothing in the data directory (database, WAL) holds the HMAC key or the account key in clear.
    let holdingTheCa = 0;
    for (const { file, bytes } of dataFiles(dir)) {
      expect(bytes.includes(EAB_HMAC), file).toBe(false);
      expect(bytes.includes('BEGIN PRIVATE KEY'), file).toBe(false);
      if (bytes.includes(made.json().id as string)) holdingTheCa++;
    }
    // The scan did read the database that holds the CA.
    expect(holdingTheCa).toBeGreaterThan(0);
  }, 120_000);
});
