// The read-only queries the status protocol needs from the core (CoreServices.queries). Declared
// here, by the one who reads, so the core's QueryService only has to match it structurally.
import type { CaRecord, CertificateRecord, CrlHeader } from '../../src/core/types.js';

export interface StatusReads {
  caById(caId: string): Promise<CaRecord | undefined>;
  caList(): Promise<CaRecord[]>;
  /** serialHex: lower-case hex of the positive serial, no leading zero byte, as certificates are stored. */
  certificateBySerial(caId: string, serialHex: string): Promise<CertificateRecord | undefined>;
  /** The latest CRL's number and dates, without its body. */
  latestCrlHeader(caId: string): Promise<CrlHeader | undefined>;
}
