// Load from wrk (C, epoll, one thread per core) instead of autocannon when it is installed: one
// autocannon process on this 2-core machine tops out near 5,000–10,000 requests/s, so it, not the
// server, was the ceiling. wrk costs a few microseconds per request.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  rate: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export async function hasWrk(): Promise<boolean> {
  return run('wrk', ['--version']).then(
    () => true,
    // wrk --version exits 1 after printing its banner.
    (e: { stdout?: string; stderr?: string }) => /wrk/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`),
  );
}

// Each wrk thread reads the hex-encoded bodies once and pre-formats every request, so the measured
// loop only picks the next one. done() prints one JSON line for us to read.
const script = (bodiesFile: string, path: string, headers: Record<string, string>): string => `
local bodies_file = ${JSON.stringify(bodiesFile)}
local reqs = {}
local n = 0
local i = 0
function init(args)
  local headers = { ${Object.entries(headers).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join(', ')} }
  for line in io.lines(bodies_file) do
    local body = line:gsub('..', function(cc) return string.char(tonumber(cc, 16)) end)
    n = n + 1
    reqs[n] = wrk.format('POST', ${JSON.stringify(path)}, headers, body)
  end
  i = math.random(n) - 1
end
function request()
  i = i % n + 1
  return reqs[i]
end
-- wrk's own resolve() test-connects and hangs up at once; openssl 3.0's responder spins forever on
-- such an empty connection, so connect only to send requests.
wrk.resolve = function(host, service) wrk.addrs = wrk.lookup(host, service) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
`;

/** POSTs the bodies round-robin for `seconds` over `connections` keep-alive connections. */
export async function wrkLoad(url: string, bodies: Buffer[], headers: Record<string, string>, opts: { seconds: number; connections: number; threads?: number }): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'certgate-wrk-'));
  try {
    const bodiesFile = join(dir, 'bodies.hex');
    writeFileSync(bodiesFile, bodies.map((b) => b.toString('hex')).join('\n') + '\n');
    const scriptFile = join(dir, 'load.lua');
    const u = new URL(url);
    writeFileSync(scriptFile, script(bodiesFile, u.pathname, headers));
    const { stdout } = await run('wrk', ['-t', String(opts.threads ?? 1), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--timeout', '30s', '-s', scriptFile, `${u.origin}${u.pathname}`], { maxBuffer: 1 << 20 });
    const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const r = JSON.parse(line) as { requests: number; duration_us: number; p50_us: number; p99_us: number; connect: number; read: number; write: number; status: number; timeout: number };
    return {
      rate: r.requests / (r.duration_us / 1e6),
      p50: r.p50_us / 1000,
      p99: r.p99_us / 1000,
      requests: r.requests,
      non2xx: r.status,
      errors: r.connect + r.read + r.write + r.timeout,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
