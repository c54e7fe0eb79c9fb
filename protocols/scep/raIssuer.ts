// Which CA issues the SCEP RA certificate that serves a product. The product's own CA, when
// certgate signs with it; a CA that cannot sign locally (an upstream ACME CA, which signs only what
// a requester's CSR asks for, after validating its names) cannot issue an RA certificate, so the
// RA of such a CA comes from the local CA the operator names in CERTGATE_SCEP_RA_CA. Clients then
// verify the CertRep against that CA's chain, and the issued certificate against the product's
// CA: GetCACert carries both.
import { AppError } from '../../src/core/errors.js';
import { BACKEND_NAMES, capabilitiesOf } from '../../src/core/caCapabilities.js';
import { TtlCache } from '../../src/core/ttlCache.js';
import type { CaRecord } from '../../src/core/types.js';

export interface CaLookup {
  caById(id: string): Promise<CaRecord | undefined>;
  caList(): Promise<CaRecord[]>;
}

export class RaIssuers {
  /**
   * Per product CA; a CA's backend never changes, so each is decided once per process. A refusal
   * is not kept: the operator may create the CA the setting names without restarting anything.
   */
  private readonly decided = new TtlCache<string>(Number.POSITIVE_INFINITY);

  constructor(
    private readonly cas: CaLookup,
    /** CERTGATE_SCEP_RA_CA: a CA's name or id, or '' for none. */
    private readonly raCa: string,
  ) {}

  /** The id of the CA that issues the RA for products of `caId`. */
  of(caId: string): Promise<string> {
    return this.decided.get(caId, () => this.decide(caId));
  }

  private async decide(caId: string): Promise<string> {
    const ca = await this.cas.caById(caId);
    if (!ca) throw new Error(`CA ${caId} not found`);
    if (capabilitiesOf(ca).signsLocally) return ca.id;
    const cannot = `CA "${ca.name}" is backed by ${BACKEND_NAMES[ca.backend]}, which cannot issue the SCEP RA certificate`;
    if (!this.raCa) throw new AppError('conflict', `${cannot}: set CERTGATE_SCEP_RA_CA to a CA that certgate signs with`);
    const named = (await this.cas.caById(this.raCa)) ?? (await this.cas.caList()).find((c) => c.name === this.raCa);
    if (!named) throw new AppError('conflict', `${cannot}, and CERTGATE_SCEP_RA_CA names no CA ("${this.raCa}")`);
    if (!capabilitiesOf(named).signsLocally) throw new AppError('conflict', `${cannot}, and neither can CA "${named.name}" (CERTGATE_SCEP_RA_CA)`);
    return named.id;
  }
}
