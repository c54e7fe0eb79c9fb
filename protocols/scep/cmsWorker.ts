// A thread of the CMS pool (cmsPool.ts): runs the jobs it is sent, one after another, and answers
// each with its result or the error it threw.
import type { MessagePort } from 'node:worker_threads';
import { RecipientCache, runCmsJob, type CmsJob } from './cmsJobs.js';
import { rehearse } from './cmsRehearsal.js';
import { reusePkijsSchemas } from './pkijsSchemas.js';

export function serve(port: MessagePort): void {
  // This thread does nothing but CMS: its pkijs may keep its schemas.
  reusePkijsSchemas();
  const cache = new RecipientCache();
  port.on('message', (batch: { id: number; job: CmsJob }[]) => {
    for (const { id, job } of batch) {
      runCmsJob(job, cache).then(
        (result) => port.postMessage({ id, ok: true, result }),
        (e: unknown) => port.postMessage({ id, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
      );
    }
  });
  // Ready once rehearsed: the pool waits for it while the process starts. A thread whose rehearsal
  // failed still serves (the pool logs why): each job answers for itself.
  rehearse().then(
    () => port.postMessage({ ready: true }),
    (e: unknown) => port.postMessage({ ready: true, rehearsal: e instanceof Error ? e.message : String(e) }),
  );
}
