import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const requireAll = process.env.CERTGATE_REQUIRE_ALL === '1';

/** Absolute path of an executable on PATH (or in extraDirs), or null. */
export function findBinary(name: string, extraDirs: string[] = []): string | null {
  for (const dir of extraDirs) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * A suite that needs a binary calls this. Missing binary: returns a one-line skip reason, or
 * throws when CERTGATE_REQUIRE_ALL=1 (CI), so a green run never hides an untested client.
 */
export function missingBinaryReason(name: string, install: string, extraDirs: string[] = []): string | null {
  if (findBinary(name, extraDirs)) return null;
  const reason = `${name} not installed: ${install}`;
  if (requireAll) throw new Error(`CERTGATE_REQUIRE_ALL=1 but ${reason}`);
  console.warn(`skipping: ${reason}`);
  return reason;
}
