// `serve --processes N`: N HTTP processes share the listening ports, so one machine's cores all
// answer (a Node process runs its JavaScript on one core). The primary prepares what the children
// would otherwise race for (first-start init, the HTTPS certificate), runs the CA worker when
// asked, and replaces a child that dies. Jobs cross processes, so this needs the Redis queue.
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import { openRuntime, type Runtime } from './runtime.js';
import { startServer, type ServeOptions } from './httpServer.js';
import { ensureTlsCertificate } from './tlsCertificate.js';
import { METRICS_GROUP_ENV } from './metrics/host.js';

interface ListeningMessage {
  type: 'certgate:listening';
  httpUrl: string | null;
  httpsUrl: string | null;
}

const isListening = (m: unknown): m is ListeningMessage => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'certgate:listening';

/** A child: the HTTP front-ends only, reporting to the primary once they listen. */
async function runChild(config: Config, opts: ServeOptions): Promise<void> {
  const running = await startServer(config, { ...opts, worker: false, initFirst: undefined });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The primary is gone (killed hard): do not linger as an orphan holding the port.
  process.on('disconnect', stop);
  // Only now, with the handlers in place: the primary may signal as soon as it hears this.
  process.send?.({ type: 'certgate:listening', httpUrl: running.httpUrl, httpsUrl: running.httpsUrl } satisfies ListeningMessage);
}

export interface ClusterStarted {
  rt: Runtime;
  httpUrl: string | null;
  httpsUrl: string | null;
  close(): Promise<void>;
}

/** The primary: prepares, forks the children, and resolves once every one of them listens. */
async function runPrimary(config: Config, opts: ServeOptions): Promise<ClusterStarted> {
  const rt = await openRuntime(config, { protocols: opts.protocols });
  await opts.initFirst?.(rt);
  if (config.httpsPort > 0 && !config.tlsCertFile) await ensureTlsCertificate(rt);
  // Otherwise each child would prepare (e.g. issue an OCSP signer) for itself, racing the others.
  await rt.startServing();
  rt.metrics?.start();
  if (opts.worker) await rt.startWorker();

  // Each child accepts on the shared socket itself; round-robin through the primary would cost an
  // IPC message per connection, and OCSP relying parties often use one connection per request.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  const children = new Set<Worker>();
  let first: ListeningMessage | null = null;

  const fork = (): Promise<void> =>
    new Promise((resolve, reject) => {
      // The children answer a scrape with the whole group's counters, which the primary collects.
      const child = cluster.fork(rt.metrics ? { [METRICS_GROUP_ENV]: rt.metrics.group } : {});
      children.add(child);
      let listening = false;
      child.on('message', (m: unknown) => {
        if (!isListening(m)) return;
        listening = true;
        first ??= m;
        resolve();
      });
      child.on('exit', (code, signal) => {
        children.delete(child);
        if (!listening) {
          reject(new Error(`an HTTP process failed to start (exit ${code ?? signal})`));
          return;
        }
        if (stopping) return;
        rt.log.error({ pid: child.process.pid, code, signal }, 'an HTTP process died; starting another');
        fork().catch((e: Error) => rt.log.error({ err: e.message }, 'could not replace an HTTP process'));
      });
    });

  const close = async (): Promise<void> => {
    stopping = true;
    // Each child finishes its in-flight requests before it exits.
    await Promise.all(
      [...children].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.process.kill('SIGTERM');
          }),
      ),
    );
    await rt.close();
  };

  try {
    await Promise.all(Array.from({ length: config.httpProcesses }, () => fork()));
  } catch (e) {
    await close();
    throw e;
  }
  const urls = first as ListeningMessage | null;
  return { rt, httpUrl: urls?.httpUrl ?? null, httpsUrl: urls?.httpsUrl ?? null, close };
}

/**
 * In the primary: resolves once all children listen. In a child: serves, and never resolves, so
 * that the caller's primary-only start-up (its banner, its signal handlers) does not run twice.
 */
export async function startCluster(config: Config, opts: ServeOptions): Promise<ClusterStarted> {
  if (cluster.isPrimary) return runPrimary(config, opts);
  await runChild(config, opts);
  return new Promise<never>(() => undefined);
}
