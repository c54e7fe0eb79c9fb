import { CA_CAPABILITIES } from '../core/caCapabilities.js';
import { TtlCache } from '../core/ttlCache.js';
import type { CaRecord } from '../core/types.js';
import type { Store } from '../store/types.js';
import type { CaBackendKind } from '../core/types.js';
import { caSecretFor, sealedKeyOf, type CaSecrets } from './createCa.js';
import { decryptPrivateKey } from './keyProtection.js';
import { LocalCa } from './localCa.js';
import type { CaBackend, CaBackendLoader, CaReadiness, StatusPointers, UpstreamRevocation } from './types.js';
import { upstreamIssuerChain } from './upstream/config.js';
import { upstreamChainOf, upstreamRenewalWindowOf } from './upstream/orders.js';

/** How to load CAs that do not sign with a sealed key, per backend kind. */
export type CaBackendLoaders = Partial<Record<Exclude<CaBackendKind, 'local'>, CaBackendLoader>>;

/** Loads each CA once (decrypting its key once) and keeps the backend for the life of the process. */
export class CaRegistry {
  private readonly loaded = new Map<string, Promise<CaBackend>>();
  // CA certificates never change, so chains are read from the store once per process.
  private readonly chains = new TtlCache<string[]>(Number.POSITIVE_INFINITY);
  // A CA's backend never changes either.
  private readonly backends = new Map<string, CaBackendKind>();

  /** `publicUrl`: where relying parties reach us; certificates then carry CRL/OCSP/caIssuers pointers. */
  constructor(
    private readonly store: Store,
    private readonly secrets: CaSecrets,
    private readonly publicUrl: string | null = null,
    /** How to load CAs that do not sign with a sealed key; the runtime registers one per kind it supports. */
    private readonly loaders: CaBackendLoaders = {},
  ) {}

  /**
   * The pointers certificates of this CA carry, or null: without a public URL, or for a CA whose
   * status certgate does not publish (an upstream CA: what it signs carries the upstream's own).
   */
  pointersFor(caId: string, backend: CaBackendKind = 'local'): StatusPointers | null {
    const capabilities = CA_CAPABILITIES[backend];
    if (!this.publicUrl || !capabilities.crl || !capabilities.ocsp) return null;
    return { crlUrl: `${this.publicUrl}/crl/${caId}.crl`, ocspUrl: `${this.publicUrl}/ocsp`, caIssuersUrl: `${this.publicUrl}/ca/${caId}.crt` };
  }

  get(caId: string): Promise<CaBackend> {
    let p = this.loaded.get(caId);
    if (!p) {
      p = this.load(caId);
      this.loaded.set(caId, p);
      // A failed load (missing passphrase, say) must not be cached forever.
      p.catch(() => this.loaded.delete(caId));
    }
    return p;
  }

  /**
   * What keeps a CA from signing now, for every CA whose backend depends on something outside the
   * process (a PKCS#11 token): /readyz names it. A CA that cannot even be loaded counts too.
   */
  async unready(): Promise<CaReadiness[]> {
    const found = await Promise.all((await this.store.cas.list()).map((ca) => this.readinessOfRecord(ca)));
    // CAs that share a token are one dependency.
    return [...new Map(found.filter((r): r is CaReadiness => r !== null).map((r) => [r.dependency, r])).values()];
  }

  /** Why the CA cannot sign now, or null (also for a CA whose backend always can). */
  async readinessOf(caId: string): Promise<CaReadiness | null> {
    const ca = await this.store.cas.get(caId);
    return ca ? this.readinessOfRecord(ca) : null;
  }

  private async readinessOfRecord(ca: CaRecord): Promise<CaReadiness | null> {
    if (ca.backend === 'local' || !this.loaders[ca.backend]) return null;
    try {
      return (await (await this.get(ca.id)).readiness?.()) ?? null;
    } catch (e) {
      return { dependency: (e as { component?: string }).component ?? `CA "${ca.name}"`, problem: (e as Error).message };
    }
  }

  /** The CA's certificate and its parents, leaf-most first; throws for an unknown CA. */
  chainOf(caId: string): Promise<string[]> {
    return this.chains.get(caId, async () => {
      const ca = await this.store.cas.get(caId);
      if (!ca) throw new Error(`CA ${caId} not found`);
      return this.chainPem(ca);
    });
  }

  /**
   * The chain to hand out with one certificate: for an upstream CA, the chain the upstream
   * returned with it (it may rotate intermediates); otherwise, and when none was kept, chainOf.
   */
  async chainFor(cert: { caId: string; requestId: string | null }): Promise<string[]> {
    if ((await this.backendOf(cert.caId)) === 'upstream-acme' && cert.requestId) {
      const chain = await upstreamChainOf(this.store, cert.requestId);
      if (chain) return chain;
    }
    return this.chainOf(cert.caId);
  }

  /** The renewal window an upstream CA suggested for this certificate (ARI); null for other CAs and when it offered none. */
  async upstreamRenewalWindow(cert: { caId: string; requestId: string | null }): Promise<{ start: Date; end: Date } | null> {
    if (!cert.requestId || (await this.backendOf(cert.caId)) !== 'upstream-acme') return null;
    return upstreamRenewalWindowOf(this.store, cert.requestId);
  }

  private async backendOf(caId: string): Promise<CaBackendKind | undefined> {
    let backend = this.backends.get(caId);
    if (backend === undefined) {
      backend = (await this.store.cas.get(caId))?.backend;
      if (backend) this.backends.set(caId, backend);
    }
    return backend;
  }

  /** The CA's certificate and its parents, leaf-most first. */
  async chainPem(ca: CaRecord): Promise<string[]> {
    const chain = [ca.certificatePem];
    let parentId = ca.parentId;
    for (let depth = 0; parentId && depth < 8; depth++) {
      const parent = await this.store.cas.get(parentId);
      if (!parent) break;
      chain.push(parent.certificatePem);
      parentId = parent.parentId;
    }
    chain.push(...upstreamIssuerChain(ca));
    return chain;
  }

  /** The revocation service's way to the upstream (UpstreamRevoker): the CA's backend, loaded once. */
  async revokeUpstream(caId: string, request: UpstreamRevocation): Promise<void> {
    const backend = await this.get(caId);
    if (!backend.revokeUpstream) throw new Error(`CA ${caId} has no upstream to revoke at`);
    await backend.revokeUpstream(request);
  }

  private async load(caId: string): Promise<CaBackend> {
    const ca = await this.store.cas.get(caId);
    if (!ca) throw new Error(`CA ${caId} not found`);
    if (ca.backend !== 'local') {
      const loader = this.loaders[ca.backend];
      if (!loader) throw new Error(`CA "${ca.name}" uses the ${ca.backend} backend, which this process cannot load`);
      return loader(ca, { chainPem: await this.chainPem(ca), pointers: this.pointersFor(ca.id, ca.backend) });
    }
    const key = decryptPrivateKey(sealedKeyOf(ca), caSecretFor(ca, this.secrets));
    return new LocalCa(ca.id, ca.certificatePem, await this.chainPem(ca), { key, algorithm: ca.keyAlgorithm }, this.pointersFor(ca.id));
  }
}
