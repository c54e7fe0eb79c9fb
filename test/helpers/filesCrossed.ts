// Which of the project's source files run while `work` runs: V8's precise coverage in this
// isolate, taken before and after (taking it resets the counters), so start-up is not counted.
// Worker threads (the CSR signature pool) are other isolates and are not seen.
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function filesCrossed(work: () => Promise<void>): Promise<string[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
    await session.post('Profiler.takePreciseCoverage');
    await work();
    const { result } = await session.post('Profiler.takePreciseCoverage');
    await session.post('Profiler.stopPreciseCoverage');
    const files = new Set<string>();
    for (const script of result) {
      if (!script.url.startsWith('file:')) continue;
      const path = relative(ROOT, fileURLToPath(script.url.split('?')[0] as string));
      if (!/^(src|protocols)\//.test(path)) continue;
      if (script.functions.some((f) => f.ranges.some((r) => r.count > 0))) files.add(path);
    }
    return [...files].sort();
  } finally {
    session.disconnect();
  }
}
