// "A dependency is down for now" as opposed to "certgate has a bug": errors that mean the store
// (PostgreSQL, a busy SQLite file), the queue (Redis) or an upstream CA cannot be reached. Every front-end answers
// these in its own protocol's form of "unavailable, try again later" (REST 503 with Retry-After,
// OCSP tryLater, ...); anything else stays a 500. Only the connection's state counts: an error the
// server answered (a constraint violation, a syntax error, WRONGTYPE) is not an outage.

/** Seconds a client is told to wait before trying again (Retry-After). */
export const RETRY_AFTER_SECONDS = 5;

/** Thrown where a dependency is known to be down without an error of its own (e.g. a ping timeout). */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    /** 'ca': a CA's key store (a PKCS#11 token) that cannot sign right now. */
    readonly dependency: 'store' | 'queue' | 'ca' | 'upstream CA',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Node socket errors: nothing answers, or the connection went away.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

// PostgreSQL SQLSTATEs: class 08 (connection exception), 57P01 admin_shutdown, 57P02
// crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down, in recovery), 53300
// too_many_connections.
const PG_CODE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;

// SQLite: the file is locked by another connection for longer than the busy timeout.
const SQLITE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_LOCKED']);

// Error classes (by name, so the core needs neither driver): node-redis's and BullMQ's
// lost/closed connection errors.
const CONNECTION_ERROR_NAMES = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'ConnectionTimeoutError',
  'SocketClosedUnexpectedlyError',
  'DisconnectsClientError',
  'ReconnectStrategyError',
  'ConnectionClosedError',
]);

// Messages of the drivers that carry neither a code nor a class of their own: pg's
// "Connection terminated unexpectedly" / "Connection terminated due to connection timeout" /
// "timeout exceeded when trying to connect" (pool checkout), "Client has encountered a connection
// error and is not queryable"; node-redis's "The client is closed" / "Socket closed unexpectedly";
// our own queue's "no connection to Redis".
const CONNECTION_MESSAGE =
  /connection terminated|timeout exceeded when trying to connect|connection error and is not queryable|client is closed|socket closed unexpectedly|connection (is )?closed|no connection to redis|database is locked/i;

/** True when `err` (or an error in its cause chain) says a dependency cannot be reached right now. */
export function isDependencyDown(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 5; depth++) {
    if (e instanceof DependencyUnavailableError) return true;
    if (typeof e !== 'object') return false;
    const { code, name, message, errors } = e as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown };
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_CODE.test(code) || SQLITE_CODES.has(code))) return true;
    if (typeof name === 'string' && CONNECTION_ERROR_NAMES.has(name)) return true;
    if (e.constructor && CONNECTION_ERROR_NAMES.has((e.constructor as { name?: string }).name ?? '')) return true;
    if (typeof message === 'string' && CONNECTION_MESSAGE.test(message)) return true;
    // AggregateError: Node's net.connect to "localhost" tries every address and fails with all.
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => isDependencyDown(x))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
