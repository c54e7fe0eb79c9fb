// Processes that share no IPC channel (a `certgate worker`, another machine's API processes) share
// their counters through Redis: each publishes its registry's snapshot every PUBLISH_INTERVAL_MS
// into one hash under the deployment's prefix, and whichever process answers a scrape merges
// those of every other group with its own group's current counters.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { RedisKeyspace, type RedisErrorSink } from '../queue/redis.js';

export type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

/** How often each process publishes: how late another group's counts may reach a scrape. */
export const PUBLISH_INTERVAL_MS = 5_000;
/** A snapshot not refreshed for this long belongs to a process that is gone, and is dropped. */
const SNAPSHOT_TTL_MS = 4 * PUBLISH_INTERVAL_MS;
/** The hash itself outlives a deployment that stops altogether by no more than this. */
const HASH_TTL_SECONDS = 86_400;

interface Published {
  group: string;
  at: number;
  snapshot: Snapshot;
}

export class RedisSnapshots extends RedisKeyspace {
  private readonly hash: string;

  constructor(redisUrl: string, prefix: string, onError: RedisErrorSink) {
    super(redisUrl, prefix, 'metrics', onError);
    this.hash = this.key('metrics');
  }

  /** Publishes this process's counters under `member` (`group/process`). */
  async publish(group: string, member: string, snapshot: Snapshot): Promise<void> {
    const value: Published = { group, at: Date.now(), snapshot };
    await this.client.multi().hSet(this.hash, member, JSON.stringify(value)).expire(this.hash, HASH_TTL_SECONDS).exec();
  }

  /** The live snapshots of every group but `group`, dropping those of processes gone quiet. */
  async othersThan(group: string): Promise<Snapshot[]> {
    const all = await this.client.hGetAll(this.hash);
    const stale: string[] = [];
    const live: Snapshot[] = [];
    const oldest = Date.now() - SNAPSHOT_TTL_MS;
    for (const [member, text] of Object.entries(all)) {
      const published = JSON.parse(text) as Published;
      if (published.at < oldest) stale.push(member);
      else if (published.group !== group) live.push(published.snapshot);
    }
    if (stale.length) await this.client.hDel(this.hash, stale);
    return live;
  }
}
