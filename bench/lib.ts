import { generateKeyPairSync } from 'node:crypto';
import { buildCsr } from '../src/pki/csrBuilder.js';

export interface Line {
  scenario: string;
  [k: string]: unknown;
}

export function emit(line: Line): void {
  console.log(JSON.stringify(line));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** n P-256 CSRs, each for its own key and host name, made before any timing starts. */
export function makeP256Csrs(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    out.push(buildCsr(privateKey, `CN=host${i}.bench.test`, { dns: [`host${i}.bench.test`] }));
  }
  return out;
}

export function argValue(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : def;
}
