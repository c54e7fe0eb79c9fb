// A minimal Redis client (RESP2 over TCP or TLS, pipelined), just enough for BullMQ.
//
// Why it exists: BullMQ 6 no longer ships a Redis driver; ioredis / redis are optional peer
// dependencies, and this project does not depend on either. BullMQ accepts any "raw" client shaped
// like Bun's built-in RedisClient (`send(command, args)`, `connected`, `onconnect`/`onclose`) and
// wraps it in its own adapter (`createBunRedisClient`), which maps every command BullMQ uses onto
// `send`, loads Lua scripts, runs MULTI/EXEC and reconnects. This class is that raw client.
// If ioredis is ever added as a dependency, pass `new IORedis(url, { maxRetriesPerRequest: null })`
// as BullMQ's connection instead and delete this file.
//
// Semantics follow what the adapter expects: replies in RESP2 form (bulk strings as UTF-8 strings,
// integers as numbers, nil as null, arrays as arrays, error replies inside arrays as Error
// values); a top-level error reply rejects the command; when the socket closes every command still
// waiting is rejected with an error whose message starts with "Connection closed". One instance is
// one connection: once closed, `connect()` opens a new socket for the same target, and
// `duplicate()` returns a fresh, unconnected client for the same target.
import net from 'node:net';
import tls from 'node:tls';
import { Fifo } from './fifo.js';

export type RedisReply = string | number | null | Error | RedisReply[];
export type RedisArg = string | Buffer | number;

/** An error reply from the server (`-ERR ...`). */
export class RedisReplyError extends Error {
  override readonly name = 'ReplyError';
}

export interface RespClientOptions {
  /** Gives up connecting after this long. Default 10 s. */
  connectTimeoutMs?: number;
}

interface Target {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
}

interface Pending {
  resolve(reply: RedisReply): void;
  reject(error: Error): void;
}

export function parseRedisUrl(url: string): Target {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`unsupported Redis URL scheme ${u.protocol} (expected redis: or rediss:)`);
  }
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error('invalid database number in Redis URL');
  return {
    host: (u.hostname || '127.0.0.1').replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 6379,
    tls: u.protocol === 'rediss:',
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
  };
}

export class RespClient {
  /** True between a completed handshake and the socket closing (or close()). */
  connected = false;
  onconnect: (() => void) | null = null;
  onclose: ((error?: Error) => void) | null = null;
  onerror: ((error: Error) => void) | null = null;
  readonly url: string;

  private readonly target: Target;
  private readonly connectTimeoutMs: number;
  private socket: net.Socket | undefined;
  private connecting: Promise<void> | undefined;
  private readonly pending = new Fifo<Pending>();
  private parser = new RespParser();
  private corked = false;

  constructor(url: string, private readonly options: RespClientOptions = {}) {
    this.url = url;
    this.target = parseRedisUrl(url);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  connect(): Promise<void> {
    if (this.connected) return Promise.resolve();
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Sends one command; resolves with its reply. Commands are pipelined in call order. */
  send<T = RedisReply>(command: string, args: readonly RedisArg[] = []): Promise<T> {
    if (this.connected) return this.write(command, args) as Promise<T>;
    if (this.connecting) return this.connecting.then(() => this.send<T>(command, args));
    return Promise.reject(new Error('Connection closed'));
  }

  /** Closes the connection; replies already on their way still arrive, later sends fail. */
  close(): void {
    const socket = this.socket;
    this.connected = false;
    if (!socket) return;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** BullMQ checks for connect/disconnect/duplicate to recognise a client instance. */
  disconnect(): void {
    this.close();
  }

  duplicate(): Promise<RespClient> {
    return Promise.resolve(new RespClient(this.url, this.options));
  }

  get(key: string): Promise<string | null> {
    return this.send<string | null>('GET', [key]);
  }

  smembers(key: string): Promise<string[]> {
    return this.send<string[]>('SMEMBERS', [key]);
  }

  incr(key: string): Promise<number> {
    return this.send<number>('INCR', [key]);
  }

  private open(): Promise<void> {
    const t = this.target;
    return new Promise<void>((resolve, reject) => {
      const socket = t.tls ? tls.connect({ host: t.host, port: t.port, servername: t.host }) : net.connect({ host: t.host, port: t.port });
      this.socket = socket;
      this.parser = new RespParser();
      let lastError: Error | undefined;
      let ready = false;
      let settled = false;
      const timer = setTimeout(() => {
        socket.destroy(new Error(`timed out connecting to Redis at ${t.host}:${t.port}`));
      }, this.connectTimeoutMs);

      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      socket.once(t.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        const handshake: Promise<RedisReply>[] = [];
        if (t.password !== undefined) {
          handshake.push(this.write('AUTH', t.username ? [t.username, t.password] : [t.password]));
        }
        if (t.db !== 0) handshake.push(this.write('SELECT', [String(t.db)]));
        Promise.all(handshake).then(
          () => {
            if (settled) return;
            settled = true;
            ready = true;
            this.connected = true;
            resolve();
            this.onconnect?.();
          },
          (err: Error) => {
            lastError = err;
            socket.destroy();
          },
        );
      });
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
      // The server closed its side (CLIENT KILL, timeout, shutdown): every reply has arrived, no
      // command sent from now on would be answered.
      socket.on('end', () => {
        if (this.socket === socket) this.connected = false;
        socket.destroy();
      });
      socket.on('error', (err) => {
        lastError = err;
        this.onerror?.(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.socket === socket) {
          this.socket = undefined;
          this.connected = false;
        }
        const closed = new Error(lastError ? `Connection closed: ${lastError.message}` : 'Connection closed');
        for (let p = this.pending.shift(); p; p = this.pending.shift()) p.reject(closed);
        if (!settled) {
          settled = true;
          reject(lastError ?? closed);
        } else if (ready) {
          // After the rejections above have been handled: BullMQ's adapter turns "connection
          // closed" into a silent null once it has been told about the close, which would make a
          // lost command look successful.
          setImmediate(() => this.onclose?.(lastError));
        }
      });
    });
  }

  private write(command: string, args: readonly RedisArg[]): Promise<RedisReply> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error('Connection closed'));
    return new Promise<RedisReply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      if (!this.corked) {
        // Everything written in this tick goes out in as few packets as possible.
        this.corked = true;
        socket.cork();
        process.nextTick(() => {
          this.corked = false;
          socket.uncork();
        });
      }
      socket.write(encodeCommand(command, args));
    });
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    try {
      this.parser.feed(chunk, (reply) => {
        const p = this.pending.shift();
        if (!p) throw new Error('Redis protocol error: reply without a command');
        if (reply instanceof Error) p.reject(reply);
        else p.resolve(reply);
      });
    } catch (err) {
      socket.destroy(err as Error);
    }
  }
}

function encodeCommand(command: string, args: readonly RedisArg[]): string | Buffer {
  let head = `*${args.length + 1}\r\n$${Buffer.byteLength(command)}\r\n${command}\r\n`;
  let parts: Buffer[] | undefined;
  for (const arg of args) {
    if (Buffer.isBuffer(arg)) {
      parts ??= [];
      parts.push(Buffer.from(`${head}$${arg.length}\r\n`), arg);
      head = '\r\n';
    } else {
      const s = typeof arg === 'string' ? arg : String(arg);
      head += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    }
  }
  if (!parts) return head;
  parts.push(Buffer.from(head));
  return Buffer.concat(parts);
}

const INCOMPLETE = Symbol('incomplete');
const CR = 13;

/** Incremental RESP2 reply parser. */
class RespParser {
  private buf: Buffer | undefined;
  private pos = 0;

  feed(chunk: Buffer, onReply: (reply: RedisReply) => void): void {
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    let start = 0;
    while (start < this.buf.length) {
      this.pos = start;
      const reply = this.parse(this.buf);
      if (reply === INCOMPLETE) break;
      start = this.pos;
      onReply(reply);
    }
    // Keep only the unparsed tail (an incomplete reply is parsed again from its start).
    this.buf = start < this.buf.length ? this.buf.subarray(start) : undefined;
  }

  private parse(buf: Buffer): RedisReply | typeof INCOMPLETE {
    const at = this.pos;
    if (at >= buf.length) return INCOMPLETE;
    const lineEnd = buf.indexOf(CR, at + 1);
    if (lineEnd === -1 || lineEnd + 1 >= buf.length) return INCOMPLETE;
    const next = lineEnd + 2;
    switch (buf[at]) {
      case 0x2b: // + simple string
        this.pos = next;
        return buf.toString('utf8', at + 1, lineEnd);
      case 0x2d: // - error
        this.pos = next;
        return new RedisReplyError(buf.toString('utf8', at + 1, lineEnd));
      case 0x3a: // : integer
        this.pos = next;
        return Number(buf.toString('latin1', at + 1, lineEnd));
      case 0x24: {
        // $ bulk string
        const len = Number(buf.toString('latin1', at + 1, lineEnd));
        if (len < 0) {
          this.pos = next;
          return null;
        }
        const end = next + len;
        if (end + 2 > buf.length) return INCOMPLETE;
        this.pos = end + 2;
        return buf.toString('utf8', next, end);
      }
      case 0x2a: {
        // * array
        const n = Number(buf.toString('latin1', at + 1, lineEnd));
        this.pos = next;
        if (n < 0) return null;
        const items: RedisReply[] = new Array<RedisReply>(n);
        for (let i = 0; i < n; i++) {
          const item = this.parse(buf);
          if (item === INCOMPLETE) return INCOMPLETE;
          items[i] = item;
        }
        return items;
      }
      default:
        throw new Error(`Redis protocol error: unexpected reply type byte ${buf[at]}`);
    }
  }
}
