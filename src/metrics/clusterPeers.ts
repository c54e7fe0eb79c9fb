// `serve --processes N`: the HTTP processes of one machine are one group, and the primary knows
// them all. A scrape taken by any child asks the primary, which collects every child's counters
// (and its own: it may run the worker) over the cluster's IPC channel and hands them back, so each
// child answers with the same, current totals. A process outside a cluster is a group of one.
import cluster, { type Worker } from 'node:cluster';
import type { Snapshot } from './snapshot.js';

const ASK = 'certgate:metrics:ask';
const ANSWER = 'certgate:metrics:answer';
const COLLECT = 'certgate:metrics:collect';
const COLLECTED = 'certgate:metrics:collected';

/** How long a scrape waits for the other processes of its group; one that does not answer is left out. */
const PEER_TIMEOUT_MS = 2_000;

interface Message {
  type: string;
  id: number;
  snapshots?: Snapshot[];
}

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null && typeof (m as Message).type === 'string' && typeof (m as Message).id === 'number';

/** Resolves with what the answers carried once all came in, or with those that did by the timeout. */
function gather(expected: number, register: (id: number, take: (s: Snapshot[]) => void) => () => void): Promise<Snapshot[]> {
  return new Promise((resolve) => {
    const got: Snapshot[] = [];
    let left = expected;
    let unregister = (): void => undefined;
    const timer = setTimeout(() => finish(), PEER_TIMEOUT_MS);
    const finish = (): void => {
      clearTimeout(timer);
      unregister();
      resolve(got);
    };
    if (left === 0) {
      finish();
      return;
    }
    unregister = register(nextId++, (snapshots) => {
      got.push(...snapshots);
      if (--left === 0) finish();
    });
  });
}

let nextId = 1;

export class ClusterPeers {
  private readonly pending = new Map<number, (s: Snapshot[]) => void>();
  private readonly detach: () => void;

  /** `own`: this process's counters, read fresh at each call. */
  constructor(private readonly own: () => Promise<Snapshot>) {
    if (cluster.isWorker) {
      const onMessage = (m: unknown): void => {
        if (!isMessage(m)) return;
        if (m.type === COLLECT) {
          void this.own().then((snapshot) => process.send?.({ type: COLLECTED, id: m.id, snapshots: [snapshot] } satisfies Message));
        } else if (m.type === ANSWER) this.pending.get(m.id)?.(m.snapshots ?? []);
      };
      process.on('message', onMessage);
      this.detach = () => process.off('message', onMessage);
    } else {
      const onMessage = (worker: Worker, m: unknown): void => {
        if (!isMessage(m)) return;
        if (m.type === ASK) {
          void this.fromPrimary().then((snapshots) => {
            if (worker.isConnected()) worker.send({ type: ANSWER, id: m.id, snapshots } satisfies Message);
          });
        } else if (m.type === COLLECTED) this.pending.get(m.id)?.(m.snapshots ?? []);
      };
      cluster.on('message', onMessage);
      this.detach = () => cluster.off('message', onMessage);
    }
  }

  /**
   * The counters of every process of this group, read now. null when a child's primary did not
   * answer in time: the caller then falls back on the group's published snapshots.
   */
  async group(): Promise<Snapshot[] | null> {
    if (!cluster.isWorker) return this.fromPrimary();
    const answer = await gather(1, (id, take) => {
      this.pending.set(id, take);
      process.send?.({ type: ASK, id } satisfies Message);
      return () => this.pending.delete(id);
    });
    return answer.length ? answer : null;
  }

  private async fromPrimary(): Promise<Snapshot[]> {
    const children = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
    const [own, theirs] = await Promise.all([
      this.own(),
      gather(children.length, (id, take) => {
        this.pending.set(id, take);
        for (const child of children) child.send({ type: COLLECT, id } satisfies Message);
        return () => this.pending.delete(id);
      }),
    ]);
    return [own, ...theirs];
  }

  close(): void {
    this.detach();
  }
}
