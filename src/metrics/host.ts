// One process's metrics: the counters it keeps (prometheus.ts), and the answer to a scrape, which
// is the same whichever process of the deployment gives it: its group's counters read now over
// IPC (clusterPeers.ts), every other process's last published snapshot from Redis (snapshot.ts),
// summed per series, and the deployment's facts read from the store (deploymentFacts.ts).
import { randomUUID } from 'node:crypto';
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { Store } from '../store/types.js';
import { ClusterPeers } from './clusterPeers.js';
import { DeploymentFacts } from './deploymentFacts.js';
import { ProcessMetrics } from './prometheus.js';
import { PUBLISH_INTERVAL_MS, RedisSnapshots, type Snapshot } from './snapshot.js';

/** Set by the cluster's primary for its children: the processes of one `serve --processes N` are one group. */
export const METRICS_GROUP_ENV = 'CERTGATE_METRICS_GROUP';

export interface MetricsHostOptions {
  store: Store;
  log: Logger;
  now: () => number;
  redis?: { url: string; prefix: string; ping: () => Promise<void> };
}

export class MetricsHost {
  readonly facts = new ProcessMetrics();
  /** This process and those it reaches over IPC: their counters are read at the scrape, not from Redis. */
  readonly group: string;
  private readonly member: string;
  private readonly deployment: DeploymentFacts;
  private snapshots: RedisSnapshots | null = null;
  private peers: ClusterPeers | null = null;
  private publisher: NodeJS.Timeout | undefined;
  /** Once its counts are in Redis's retired sum, this process reports none of its own (they would count twice). */
  private retired = false;
  private publishing: Promise<void> | null = null;

  constructor(private readonly options: MetricsHostOptions) {
    this.group = (cluster.isWorker && process.env[METRICS_GROUP_ENV]) || randomUUID();
    this.member = `${this.group}/${randomUUID()}`;
    this.deployment = new DeploymentFacts({ store: options.store, now: options.now, ...(options.redis ? { redisPing: options.redis.ping } : {}) });
  }

  /**
   * For a process that serves or works jobs (not the CLI): takes part in its group's IPC
   * collection and publishes its counters for the other groups.
   */
  start(): void {
    if (this.peers) return;
    this.peers = new ClusterPeers(() => this.own());
    const { redis, log } = this.options;
    // Only here: a CLI command, which counts nothing anyone scrapes, opens no connection for it.
    if (!redis) return;
    this.snapshots = new RedisSnapshots(redis.url, redis.prefix, (message, error) => log.warn({ err: error.message }, message));
    this.publisher = setInterval(() => void this.publish(), PUBLISH_INTERVAL_MS);
    this.publisher.unref();
    void this.publish();
  }

  get contentType(): string {
    return this.facts.registry.contentType;
  }

  /** The text exposition of the whole deployment. */
  async scrape(): Promise<string> {
    const [ours, theirs, deployment] = await Promise.all([this.ourGroup(), this.otherGroups(), this.deployment.registry()]);
    const counters = AggregatorRegistry.aggregate([...ours, ...theirs]) as Registry;
    return Registry.merge([counters, deployment]).metrics();
  }

  private async ourGroup(): Promise<Snapshot[]> {
    return (await this.peers?.group()) ?? [await this.own()];
  }

  private async own(): Promise<Snapshot> {
    return this.retired ? [] : this.facts.registry.getMetricsAsJSON();
  }

  private async otherGroups(): Promise<Snapshot[]> {
    if (!this.snapshots) return [];
    try {
      return await this.snapshots.othersThan(this.group);
    } catch (e) {
      // Redis away: this group's counts still answer; certgate_redis_up says why the rest is missing.
      this.options.log.warn({ err: (e as Error).message }, 'metrics: could not read the other processes\' counters');
      return [];
    }
  }

  private publish(): Promise<void> {
    this.publishing ??= (async () => {
      try {
        await this.snapshots?.publish(this.group, this.member, await this.facts.registry.getMetricsAsJSON());
      } catch (e) {
        this.options.log.debug({ err: (e as Error).message }, 'metrics: could not publish this process\'s counters');
      } finally {
        this.publishing = null;
      }
    })();
    return this.publishing;
  }

  /** Hands this process's counts to the retired sum, so the deployment's totals do not drop, then lets go. */
  async close(): Promise<void> {
    clearInterval(this.publisher);
    if (this.snapshots) {
      // A publish landing after the retirement would bring this process's counts back beside the sum.
      await this.publishing;
      try {
        await this.snapshots.retire(this.member, await this.facts.registry.getMetricsAsJSON());
        this.retired = true;
      } catch (e) {
        this.options.log.warn({ err: (e as Error).message }, 'metrics: could not hand this process\'s counters over; the totals will drop by them');
      }
      await this.snapshots.close();
    }
    this.peers?.close();
  }
}
