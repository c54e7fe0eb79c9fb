import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { publicUrlOf, type Config } from './config.js';
import { openRuntime, type Runtime } from './runtime.js';

export interface ServeOptions {
  worker: boolean;
  json: boolean;
  /** false: a worker process with no listeners. */
  http?: boolean;
  initFirst?: (rt: Runtime) => Promise<unknown>;
}

export interface RunningServer {
  rt: Runtime;
  httpUrl: string | null;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

/** Starts what `certgate serve|start|worker` runs; resolves once listening. */
export async function startServer(config: Config, opts: ServeOptions): Promise<RunningServer> {
  const rt = await openRuntime(config);
  await opts.initFirst?.(rt);
  if (opts.worker) await rt.startWorker();
  let server: Server | null = null;
  let httpUrl: string | null = null;
  if (opts.http !== false) {
    server = createServer(createApp(rt));
    server.keepAliveTimeout = 65_000;
    const addr = await listen(server, config.httpPort, config.host);
    httpUrl = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }
  return {
    rt,
    httpUrl,
    async close() {
      // Stop accepting, let in-flight HTTP requests and jobs finish, then close the store.
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
        });
      }
      await rt.close();
    },
  };
}

export async function serve(config: Config, opts: ServeOptions): Promise<void> {
  const running = await startServer(config, opts);
  const { rt } = running;
  const info = { url: running.httpUrl, public_url: publicUrlOf(config), worker: opts.worker, store: rt.store.kind, queue: rt.queue.kind };
  if (opts.json) console.log(JSON.stringify(info));
  else if (running.httpUrl) console.log(`certgate listening on ${running.httpUrl} (store: ${rt.store.kind}, queue: ${rt.queue.kind}${opts.worker ? ', worker in-process' : ''})`);
  else console.log(`certgate worker running (store: ${rt.store.kind}, queue: ${rt.queue.kind})`);
  rt.log.info(info, 'started');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    rt.log.info({ signal }, 'shutting down: finishing in-flight requests and jobs');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (e: Error) => {
        rt.log.error({ err: e.message }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
