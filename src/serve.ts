// What `certgate start|serve|worker` run in the foreground: the listeners (one process, or a
// cluster of them), a banner, and a graceful stop on SIGINT/SIGTERM.
import { startCluster } from './cluster.js';
import { ConfigError, ENV_NAMES, publicUrlOf, type Config } from './config.js';
import { startServer, type ServeOptions } from './httpServer.js';

export async function serve(config: Config, opts: ServeOptions): Promise<void> {
  const processes = opts.http === false ? 1 : config.httpProcesses;
  if (processes > 1 && !config.redisUrl) {
    throw new ConfigError(`${ENV_NAMES.httpProcesses}=${processes} needs REDIS_URL: requests taken by one process are signed by the worker in another, through Redis`);
  }
  const running = processes > 1 ? await startCluster(config, opts) : await startServer(config, opts);
  const { rt } = running;
  // Before the banner: whoever reads "listening" may signal at once, and must find a graceful stop.
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
  const info = { url: running.httpUrl, https_url: running.httpsUrl, tls_ca_file: running.httpsUrl ? `${config.dataDir}/tls-ca.pem` : null, public_url: publicUrlOf(config), worker: opts.worker, processes, store: rt.store.kind, queue: rt.queue.kind };
  if (opts.json) console.log(JSON.stringify(info));
  else if (running.httpUrl) console.log(`certgate listening on ${running.httpUrl}${running.httpsUrl ? ` and ${running.httpsUrl} (trust ${info.tls_ca_file})` : ''} (store: ${rt.store.kind}, queue: ${rt.queue.kind}${processes > 1 ? `, ${processes} HTTP processes` : ''}${opts.worker ? ', worker in-process' : ''})`);
  else console.log(`certgate worker running (store: ${rt.store.kind}, queue: ${rt.queue.kind})`);
  rt.log.info(info, 'started');
}
