// The status protocol's services from a runtime, as the composition root gives them.
import type { StatusCore, StatusReads } from '../../protocols/status/index.js';
import type { StatusChangeListener } from '../../src/core/protocol.js';
import { QueryService } from '../../src/core/queries.js';
import type { Runtime } from '../../src/runtime.js';
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

/** By default, status news is what the runtime hears (its own revocations, and others' through Redis). */
export function statusCoreOf(rt: Runtime, onStatusChange: (listener: StatusChangeListener) => void = rt.core.onStatusChange): StatusCore {
  return { ...rt.core, onStatusChange };
}
