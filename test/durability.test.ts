// A 201 means the certificate is stored: the gateway killed without warning right after the answer
// (SIGKILL: no shutdown, no flush) finds it again when it starts on the same data directory.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from './helpers/until.js';
import { makeCsr, tempDir } from './helpers/openssl.js';

const root = join(import.meta.dirname, '..');

interface Gateway {
  url: string;
  /** The JSON lines `start --json` printed (the first start prints the admin key). */
  lines: Record<string, unknown>[];
  /** Kills the process with SIGKILL and resolves once it is gone. */
  kill(): Promise<void>;
}

/** `certgate start` as an operator runs it, embedded (SQLite, in-process queue), ready to serve. */
async function startGateway(dataDir: string): Promise<Gateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), 'start', '--json'], {
    cwd: root,
    env: {
      ...process.env,
      CERTGATE_DATA_DIR: dataDir,
      CERTGATE_HTTP_PORT: '0',
      CERTGATE_HTTPS_PORT: '0',
      CERTGATE_LOG_LEVEL: 'silent',
      DATABASE_URL: '',
      REDIS_URL: '',
    },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (typeof line.url === 'string') resolve(line.url);
      }
    });
    void exited.then(() => reject(new Error(`certgate start exited before serving: ${stderr}`)));
  });
  const gateway: Gateway = {
    url,
    lines,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
  try {
    await until(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200);
  } catch (error) {
    await gateway.kill();
    throw error;
  }
  return gateway;
}


function api(gateway: Gateway, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe('durability', () => {
  it('a certificate answered with 201 survives a SIGKILL right after the answer', async () => {
    const dataDir = tempDir('certgate-durability-');
    const first = await startGateway(dataDir);
    let issued: { id: string; serial_number: string; certificate_pem: string };
    let token: string;
    try {
      token = first.lines.find((l) => typeof l.admin_api_key === 'string')?.admin_api_key as string;
      expect(token, 'the first start prints the admin key').toBeTypeOf('string');
      const cas = (await (await api(first, token, 'GET', '/v1/cas')).json()) as { cas: { id: string; type: string }[] };
      const issuing = cas.cas.find((c) => c.type === 'intermediate');
      expect(issuing, 'init creates an issuing CA').toBeDefined();

      const { csrPem } = makeCsr(dataDir, { subject: '/CN=durable.example.com' });
      const res = await api(first, token, 'POST', '/v1/certificates', { caId: issuing!.id, csrPem });
      expect(res.status).toBe(201);
      issued = ((await res.json()) as { certificate: typeof issued }).certificate;
      expect(issued.certificate_pem).toContain('BEGIN CERTIFICATE');
    } finally {
      // Killed as soon as the answer is read: nothing gets a chance to flush or shut down.
      await first.kill();
    }

    const second = await startGateway(dataDir);
    try {
      const res = await api(second, token, 'GET', `/v1/certificates/${issued.id}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        id: issued.id,
        serial_number: issued.serial_number,
        certificate_pem: issued.certificate_pem,
      });
    } finally {
      await second.kill();
    }
  });
});
