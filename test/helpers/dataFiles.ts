// The files a deployment left in its data directory, read whole: what a test searches for a secret
// that must be stored nowhere in clear (the database, its WAL, key files).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every readable file under `dir` (directories and files gone meanwhile are skipped), with its bytes. */
export function dataFiles(dir: string): { file: string; bytes: Buffer }[] {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const file of readdirSync(dir, { recursive: true }) as string[]) {
    try {
      out.push({ file, bytes: readFileSync(join(dir, file)) });
    } catch {
      // A directory, or a file removed since the listing (a WAL checkpointed away).
    }
  }
  return out;
}
