// The CRL watcher tells an embedded server about revocations made by another process (the CLI),
// by CRL numbers it did not publish itself. Its own CRLs, however many and however timed, are not
// news: they would drop the CA's whole OCSP cache for revocations already handled one by one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrlWatcher } from '../protocols/status/crlWatcher.js';
import { CrlPublisher } from '../src/ca/crlPublisher.js';
import type { CaRecord } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { createLogger } from '../src/log.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import type { Store } from '../src/store/types.js';
import { statusReadsOf } from './helpers/status.js';
import { until } from './helpers/until.js';
import { testConfig } from './helpers/gateway.js';

let rt: Runtime;
let issuing: CaRecord;
let root: CaRecord;

beforeAll(async () => {
  rt = await openRuntime(testConfig({}, 'certgate-crl-watcher-'));
  const made = await initialize(rt);
  issuing = made.issuing as CaRecord;
  root = made.root as CaRecord;
});
afterAll(async () => {
  await rt.close();
});

/** A publisher as another process (the CLI) has one: same store, its own memory. */
function otherProcess(store: Store = rt.store): CrlPublisher {
  return new CrlPublisher(store, rt.cas, { validityMs: 86_400_000 }, createLogger('silent'));
}

async function watching(): Promise<{ watcher: CrlWatcher; news: string[] }> {
  const news: string[] = [];
  const watcher = new CrlWatcher(statusReadsOf(rt.store), rt.crls, (caId) => news.push(caId), createLogger('silent'));
  await watcher.check();
  return { watcher, news };
}

describe('CRL watcher', () => {
  it("takes no notice of this process's own CRLs, even several between two looks", async () => {
    const { watcher, news } = await watching();
    await rt.crls.publish(issuing.id);
    await rt.crls.publish(issuing.id);
    await rt.crls.publish(issuing.id);
    await watcher.check();
    expect(news).toEqual([]);
  });

  it("reports the CA whose CRL another process published, alone or among this process's own", async () => {
    const { watcher, news } = await watching();
    await otherProcess().publish(issuing.id);
    await watcher.check();
    expect(news).toEqual([issuing.id]);

    await rt.crls.publish(root.id);
    await otherProcess().publish(root.id);
    await rt.crls.publish(root.id);
    await watcher.check();
    expect(news).toEqual([issuing.id, root.id]);
    await watcher.check();
    expect(news).toEqual([issuing.id, root.id]);
  });

  it('does not mistake a CRL this process is still storing for news, and judges it once stored', async () => {
    const { watcher, news } = await watching();
    let release: (() => void) | null = null;
    // A store whose CRL save is already visible to readers but has not yet returned.
    const slow = new Proxy(rt.store, {
      get: (target, prop) =>
        prop === 'crls'
          ? new Proxy(target.crls, {
              get: (c, p) =>
                p === 'save'
                  ? async (...args: Parameters<Store['crls']['save']>) => {
                      const saved = await c.save(...args);
                      await new Promise<void>((resolve) => (release = resolve));
                      return saved;
                    }
                  : Reflect.get(c, p),
            })
          : Reflect.get(target, prop),
    });
    const ownSlow = new CrlPublisher(slow, rt.cas, { validityMs: 86_400_000 }, createLogger('silent'));
    const slowWatcher = new CrlWatcher(statusReadsOf(rt.store), ownSlow, () => news.push('slow'), createLogger('silent'));
    await slowWatcher.check();

    const publishing = ownSlow.publish(issuing.id);
    await until(() => release !== undefined, 5_000, 'the publication is held');
    await slowWatcher.check(); // the new CRL is in the store; whose it is, is not known yet
    (release as unknown as () => void)();
    await publishing;
    await slowWatcher.check();
    expect(news).toEqual([]);

    // To the first watcher's process, that CRL came from elsewhere.
    await watcher.check();
    expect(news).toEqual([issuing.id]);
  });
});
