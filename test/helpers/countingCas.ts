// A CA registry that records every issue() call the CA receives, so "signed once" is what the CA
// saw, not what the store kept. It can fail the first calls, as an upstream CA that times out.
import type { CaRegistry } from '../../src/ca/registry.js';
import type { CaBackend, IssueRequest } from '../../src/ca/types.js';

export function countingCas(real: CaRegistry, opts: { failFirst?: number } = {}): { cas: CaRegistry; calls: IssueRequest[] } {
  const calls: IssueRequest[] = [];
  let failures = opts.failFirst ?? 0;
  const cas = {
    get: async (id: string): Promise<CaBackend> => {
      const ca = await real.get(id);
      return {
        caId: ca.caId,
        certificatePem: ca.certificatePem,
        chainPem: ca.chainPem,
        notAfter: ca.notAfter,
        capabilities: ca.capabilities,
        signCrl: (r) => ca.signCrl(r),
        issue: async (r) => {
          calls.push(r);
          // Yield, so that concurrent runners really overlap while the CA is working.
          await new Promise((resolve) => setImmediate(resolve));
          if (failures > 0) {
            failures -= 1;
            throw new Error('upstream CA timed out');
          }
          return ca.issue(r);
        },
      };
    },
  } as unknown as CaRegistry;
  return { cas, calls };
}
