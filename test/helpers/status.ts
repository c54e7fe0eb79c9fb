// The status protocol's services from a runtime, as the composition root gives them.
import type { StatusCore, StatusReads } from '../../protocols/status/index.js';
import type { StatusChangeListener } from '../../src/core/protocol.js';
import type { Runtime } from '../../src/runtime.js';
import type { Store } from '../../src/store/types.js';

export function statusReadsOf(store: Store): StatusReads {
  return {
    caById: (caId) => store.cas.get(caId),
    caList: () => store.cas.list(),
    certificateBySerial: (caId, serialHex) => store.certificates.getBySerial(caId, serialHex),
    latestCrlHeader: (caId) => store.crls.latestHeader(caId),
  };
}

/** By default, status news is this runtime's own revocations. */
export function statusCoreOf(rt: Runtime, onStatusChange: (listener: StatusChangeListener) => void = (l) => rt.revocations.onChange(l)): StatusCore {
  return {
    config: rt.config,
    log: rt.log,
    cas: rt.cas,
    crls: rt.crls,
    ocspSigners: rt.store.ocspSigners,
    masterKey: rt.secrets.masterKey,
    onStatusChange,
    queries: statusReadsOf(rt.store),
  };
}
