// Load from wrk (C, epoll, one thread per core) instead of autocannon when it is installed: one
// autocannon process on this 2-core machine tops out near 5,000–10,000 requests/s, so it, not the
// server, was the ceiling. wrk costs a few microseconds per request, runs for a fixed duration
// (the rate is requests over wrk's own clock, never rounded to a whole-second tick) and speaks
// HTTPS itself (one TLS handshake per keep-alive connection).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  /** Answers a second, whatever their status. */
  rate: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export interface WrkRun extends WrkResult {
  /** 2xx answers a second: certificates issued, where each request asks for one. */
  okRate: number;
  /** How many of the bodies, from the first, may have been sent: the next run starts after them to send only fresh ones. */
  bodiesUsed: number;
  /** Some thread ran out of its bodies and sent one again. */
  reused: boolean;
}

export async function hasWrk(): Promise<boolean> {
  return run('wrk', ['--version']).then(
    () => true,
    // wrk --version exits 1 after printing its banner.
    (e: { stdout?: string; stderr?: string }) => /wrk/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`),
  );
}

// The bodies file holds each body as "<byte length>\n<bytes>", so binary bodies (OCSP, DER) need
// no decoding in Lua. Thread k of T sends bodies k, k+T, k+2T, … in order, so no two threads send
// the same body and a run sends a prefix of the list (a body sent twice may be a replay the server
// answers more cheaply, as EST does for a CSR it has seen). Each thread pre-formats its requests in
// init, so the measured loop only picks the next one. done() prints one JSON line for us to read.
const script = (bodiesFile: string, path: string, headers: Record<string, string>, threads: number): string => `
local bodies_file = ${JSON.stringify(bodiesFile)}
local threads = {}
local next_id = 0
function setup(thread)
  thread:set('id', next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
local reqs = {}
local n = 0
local i = 0
sent = 0
wrapped = 0
function init(args)
  local headers = { ${Object.entries(headers).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join(', ')} }
  local f = assert(io.open(bodies_file, 'rb'))
  local k = 0
  while true do
    local len = f:read('*n')
    if not len then break end
    f:read(1)
    local body = f:read(len)
    if k % ${threads} == id then
      n = n + 1
      reqs[n] = wrk.format('POST', ${JSON.stringify(path)}, headers, body)
    end
    k = k + 1
  end
  f:close()
  if n == 0 then error('fewer bodies than wrk threads') end
end
function request()
  if i == n then
    i = 0
    wrapped = 1
  end
  i = i + 1
  sent = sent + 1
  return reqs[i]
end
-- wrk's own resolve() test-connects and hangs up at once; openssl 3.0's responder spins forever on
-- such an empty connection, so connect only to send requests.
wrk.resolve = function(host, service) wrk.addrs = wrk.lookup(host, service) end
function done(summary, latency, requests)
  local e = summary.errors
  local max_sent, any_wrapped = 0, 0
  for _, t in ipairs(threads) do
    max_sent = math.max(max_sent, t:get('sent'))
    any_wrapped = math.max(any_wrapped, t:get('wrapped'))
  end
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"max_sent":%d,"wrapped":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout, max_sent, any_wrapped))
end
`;

/** POSTs the bodies in order (see above) for `seconds` over `connections` keep-alive connections, http or https. */
export async function wrkLoad(url: string, bodies: (Buffer | string)[], headers: Record<string, string>, opts: { seconds: number; connections: number; threads?: number }): Promise<WrkRun> {
  const threads = opts.threads ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'certgate-wrk-'));
  try {
    const bodiesFile = join(dir, 'bodies');
    writeFileSync(bodiesFile, Buffer.concat(bodies.map((b) => Buffer.from(b)).flatMap((body) => [Buffer.from(`${body.length}\n`), body])));
    const scriptFile = join(dir, 'load.lua');
    const u = new URL(url);
    writeFileSync(scriptFile, script(bodiesFile, u.pathname, headers, threads));
    const { stdout } = await run('wrk', ['-t', String(threads), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--timeout', '30s', '-s', scriptFile, `${u.origin}${u.pathname}`], { maxBuffer: 1 << 20 });
    const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const r = JSON.parse(line) as { requests: number; duration_us: number; p50_us: number; p99_us: number; connect: number; read: number; write: number; status: number; timeout: number; max_sent: number; wrapped: number };
    return {
      rate: r.requests / (r.duration_us / 1e6),
      okRate: (r.requests - r.status) / (r.duration_us / 1e6),
      p50: r.p50_us / 1000,
      p99: r.p99_us / 1000,
      requests: r.requests,
      non2xx: r.status,
      errors: r.connect + r.read + r.write + r.timeout,
      bodiesUsed: Math.min(bodies.length, r.max_sent * threads),
      reused: r.wrapped > 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
