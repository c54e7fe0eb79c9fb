// One DNS exchange over TCP (RFC 1035 §4.2.2, RFC 7766): a two-byte length, the message, the same
// back. TCP alone, as the brief allows: an UPDATE with its TSIG record fits UDP, but TCP never
// truncates, and an answer on the connection we opened cannot come from a third party guessing ids.
import net from 'node:net';

export interface DnsServerAddress {
  host: string;
  port: number;
}

/** The server did not answer (no connection, or no whole answer in time): worth trying again later. */
export class DnsUnreachableError extends Error {
  override readonly name = 'DnsUnreachableError';
}

export function describeServer(server: DnsServerAddress): string {
  return server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

export function exchangeTcp(server: DnsServerAddress, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | null, answer?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer as Buffer);
    };
    const timer = setTimeout(
      () => finish(new DnsUnreachableError(`the DNS server ${describeServer(server)} did not answer within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
    socket.once('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        finish(null, received.subarray(2, 2 + received.readUInt16BE(0)));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish(new DnsUnreachableError(`cannot reach the DNS server ${describeServer(server)}: ${err.code ?? err.message}`, { cause: err })),
    );
    socket.once('close', () => finish(new DnsUnreachableError(`the DNS server ${describeServer(server)} closed the connection without an answer`)));
  });
}
