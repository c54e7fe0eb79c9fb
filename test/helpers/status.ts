// The status protocol's reads over a store, as the core's QueryService answers them.
import type { StatusReads } from '../../protocols/status/index.js';
import { QueryService } from '../../src/core/queries.js';
import type { Store } from '../../src/store/types.js';

/** The core's own queries, as a plain object a test can spread and override. */
export function statusReadsOf(store: Store): StatusReads {
  const q = new QueryService(store);
  return {
    caById: (caId) => q.caById(caId),
    caList: () => q.caList(),
    certificateBySerial: (caId, serialHex) => q.certificateBySerial(caId, serialHex),
    latestCrlHeader: (caId) => q.latestCrlHeader(caId),
  };
}
