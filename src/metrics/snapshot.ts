// Processes that share no IPC channel (a `certgate worker`, another machine's API processes) share
// their counters through Redis: each publishes its registry's snapshot every PUBLISH_INTERVAL_MS
// into one hash under the deployment's prefix, and whichever process answers a scrape merges
// those of every other group with its own group's current counters. A process that stops adds
// its counts to those of the processes stopped before it (`retired`), so a total does not drop
// when a worker is restarted.
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import { WatchError } from 'redis';
import { RedisKeyspace, type RedisErrorSink } from '../queue/redis.js';

export type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

/** How often each process publishes: how late another group's counts may reach a scrape. */
export const PUBLISH_INTERVAL_MS = 5_000;
/** A snapshot not refreshed for this long belongs to a process that is gone, and is dropped. */
const SNAPSHOT_TTL_MS = 4 * PUBLISH_INTERVAL_MS;
/** The hash itself outlives a deployment that stops altogether by no more than this. */
const HASH_TTL_SECONDS = 86_400;
/** The entry of the stopped processes' counts, summed; it never goes stale. */
const RETIRED = 'retired';
/** Processes stopping at once each retry their read-add-write; this many times at most. */
const RETIRE_ATTEMPTS = 10;

export const sumOf = async (snapshots: Snapshot[]): Promise<Snapshot> => (AggregatorRegistry.aggregate(snapshots) as Registry).getMetricsAsJSON();

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
      if (member !== RETIRED && published.at < oldest) stale.push(member);
      else if (published.group !== group) live.push(published.snapshot);
    }
    if (stale.length) await this.client.hDel(this.hash, stale);
    return live;
  }

  /** Adds this stopping process's counters to the retired ones and withdraws its own entry, in one transaction. */
  async retire(member: string, snapshot: Snapshot): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.client.watch(this.hash);
      const before = await this.client.hGet(this.hash, RETIRED);
      const sum = await sumOf(before ? [(JSON.parse(before) as Published).snapshot, snapshot] : [snapshot]);
      const value: Published = { group: RETIRED, at: Date.now(), snapshot: sum };
      try {
        await this.client.multi().hSet(this.hash, RETIRED, JSON.stringify(value)).hDel(this.hash, member).expire(this.hash, HASH_TTL_SECONDS).exec();
        return;
      } catch (e) {
        // Another process retired (or published) in between: read again.
        if (!(e instanceof WatchError) || attempt >= RETIRE_ATTEMPTS) throw e;
      }
    }
  }
}
