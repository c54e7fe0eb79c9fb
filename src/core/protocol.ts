// The one shape every front-end plugs in with. protocols/<name>/index.ts exports a ProtocolModule;
// the composition root registers them in one list and knows nothing else about them.
import type { RateCounter } from './rateCounter.js';
import type { OneTimeTokens } from './oneTimeTokens.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from 'express';
import type { Compilable, Kysely, Migration } from 'kysely';
import type { Logger } from 'pino';
import type { z, ZodRawShape, ZodType } from 'zod';
import type { Config } from '../config.js';
import type { JobHandler } from '../queue/types.js';
import type { OcspSignerStore } from '../store/types.js';
import type { Authorizer, Principal } from '../auth/authorize.js';
import type { CredentialKind } from '../auth/credentialKinds.js';
import type { CredentialService } from '../auth/credentialService.js';
import type { RequestLimits } from '../auth/requestLimits.js';
import type { CatalogueAdmin } from './catalogueAdmin.js';
import type { DomainRegistry } from './domainRegistry.js';
import type { EnrollmentService, NameAuthorizer } from './enrollmentService.js';
import type { InventoryService } from './inventoryService.js';
import type { OrganizationService } from './organizationService.js';
import type { QueryService } from './queries.js';
import type { AuditContext, AuditReader, CaRecord, CredentialRecord, CrlRecord, ProductRecord } from './types.js';
import type { TokenKeys } from './tokenKeys.js';
import type { Sealing } from './sealing.js';
import type { SystemSigning } from './systemSigner.js';
import type { RevocationService } from './revocationService.js';
import type { Metrics } from '../metrics/types.js';
import type { WebhookService } from '../notify/webhookService.js';

/** Whose status changed: one certificate, or (no serial) everything of a CA. */
export type StatusChangeListener = (caId: string, serialHex?: string) => void;

/**
 * The tables a protocol's own migrations made, typed with that protocol's schema. A protocol
 * touches no other table: a statement naming any other is refused (core/tableGuard).
 */
export interface ProtocolTables<S> {
  readonly kind: 'sqlite' | 'postgres';
  /** For reads, and for building the statements given to write(). */
  readonly db: Kysely<S>;
  /**
   * Runs one write statement and returns its first RETURNING row. On the embedded database the
   * writes of one moment share a transaction and its fsync: issue a record's several writes
   * together (Promise.all), and they commit together.
   */
  write<R>(statement: Compilable<R>): Promise<R | undefined>;
}

/** A protocol's background work: jobs on a queue of its own (in-process, or BullMQ with Redis). */
export interface ProtocolJobs {
  /** Adds a job for this id; an id already waiting or running is not added twice. */
  enqueue(id: string): Promise<void>;
  /** Resolves when the job for this id is done (or finally failed), or after `timeoutMs`. */
  waitFor(id: string, timeoutMs: number): Promise<'completed' | 'failed' | 'timeout'>;
}

export interface JobOptions {
  /** Attempts per job including the first. Default: the deployment's. */
  attempts?: number;
  backoffMs?: number;
  /** Jobs one worker process runs at once. Default 8. */
  concurrency?: number;
}

/** The CAs as front-ends see them: certificates and chains to hand out, never a key or a signature. */
export interface CaChains {
  /** The CA's certificate and its parents, leaf-most first, PEM each; throws for an unknown CA. */
  chainOf(caId: string): Promise<string[]>;
  /** The chain to hand out with this certificate (an upstream CA's own chain for it when it sent one), leaf-most first. */
  chainFor(certificate: { caId: string; requestId: string | null }): Promise<string[]>;
  /** The renewal window an upstream CA suggested for this certificate (ARI); null when certgate's own advice applies. */
  upstreamRenewalWindow(certificate: { caId: string; requestId: string | null }): Promise<{ start: Date; end: Date } | null>;
}

/** The CRLs as front-ends see them: read, never signed by a front-end. */
export interface CrlReads {
  /** The CA's current CRL (built by the core when there is none or it has expired). */
  current(caId: string): Promise<CrlRecord>;
  /** Who stored the CA's CRL with this number: this process, another, or not known yet. */
  origin(caId: string, crlNumber: number): 'here' | 'elsewhere' | 'undecided';
}

/** The catalogue's lists, as a front-end reads them on each request. */
export interface Catalogue {
  products(): Promise<ProductRecord[]>;
  cas(): Promise<CaRecord[]>;
}

/** Narrow services a front-end gets. Never the whole store, a CA's key or the master key. */
export interface CoreServices {
  config: Config;
  log: Logger;
  enrollments: EnrollmentService;
  revocations: RevocationService;
  queries: QueryService;
  /**
   * The product and CA lists as every request may read them: from memory, a product or CA added
   * elsewhere seen at once with Redis and within seconds without (queries reads the store itself).
   */
  catalogue: Catalogue;
  /** An admin's products (made, edited) and local CAs (made): audited, and seen by `catalogue` at once. The caller checks admin. */
  catalogueAdmin: Pick<CatalogueAdmin, 'createProduct' | 'updateProduct' | 'createLocalCa'>;
  /** The inventory's writes: imports, edits, manual status, removal, deployment locations. */
  inventory: InventoryService;
  /** Organization records (subject O drawn from an approved record): made, decided with four eyes, removed. */
  organizations: OrganizationService;
  credentials: CredentialService;
  /** The one authorization decision (may), auditing what it refuses. */
  authz: Authorizer;
  /** The audit trail, to read. */
  audit: AuditReader;
  cas: CaChains;
  crls: CrlReads;
  ocspSigners: OcspSignerStore;
  /** Certificates the gateway issues to itself (SCEP RA, OCSP signers): recorded and audited by the core. */
  signer: SystemSigning;
  /** Seals and opens private keys and secrets under the master key, which front-ends never hold. */
  sealing: Sealing;
  /** RSA keys kept in a PKCS#11 token for the front-end's own certificates (the SCEP RA, when the operator asks). */
  tokenKeys: TokenKeys;
  /** Revocations and reinstatements made by this process or (with Redis) any other. */
  onStatusChange(listener: StatusChangeListener): void;
  /** The protocol's own tables, typed with its schema `S` (checked at run time against its migrations). */
  tables<S>(): ProtocolTables<S>;
  /**
   * A queue named `name` (unique across protocols) whose jobs `handler` runs in every process
   * that works jobs. Call it from mount().
   */
  jobs(name: string, handler: JobHandler, options?: JobOptions): ProtocolJobs;
  /** Counters for rate limits, shared by every process when the deployment has Redis. */
  rateCounter: RateCounter;
  /** Per-credential request and issuance limits on that counter, with their refusals audited. */
  requestLimits: RequestLimits;
  /** Single-use tokens (e.g. replay nonces), shared by every process when the deployment has Redis. */
  oneTimeTokens: OneTimeTokens;
  /** The deployment's clock in milliseconds (real time but in tests): read it rather than Date.now for expiries. */
  now(): number;
  /** Where a front-end reports what only it sees (OCSP answers); a no-op when metrics are off. */
  metrics: Metrics;
  /** Webhook subscriptions (made, listed, removed; their delivery log), and events that leave no audit entry (dcv.failed). */
  webhooks: WebhookService;
  /** The domain registry: records, their validations, and what covers a request's names. */
  domains: DomainRegistry;
}

export interface MountedProtocol {
  /** Mounted on the express app at `path` (default '/'); it renders its own errors. */
  router?: Router;
  path?: string;
  /** Tried on bare node:http before express; true when it answered the request. */
  handle?(req: IncomingMessage, res: ServerResponse): boolean;
  /** Consulted by the worker for this protocol's requests before anything is signed. */
  authorizeNames?: NameAuthorizer;
  /**
   * Called once in a process that serves HTTP, or prepares for the processes that do (not in a
   * bare worker); awaited before anything listens.
   */
  startServing?(): Promise<void> | void;
  close?(): Promise<void>;
  /** Admin routes this protocol adds to the REST API (under its bearer auth, limits and errors). */
  adminRoutes?(routes: AdminRouteKit): void;
  /**
   * The protocol that serves the others' admin routes (REST): handed every mounted protocol's
   * adminRoutes once all are mounted.
   */
  serveAdminRoutes?(declarations: readonly AdminRouteDeclaration[]): void;
}

/**
 * A protocol's own settings: merged into the one validated Config when it is loaded (defaults,
 * JSON file, environment), refused there when wrong, named by their environment variable.
 */
export interface ProtocolConfig<S extends ZodRawShape = ZodRawShape> {
  /** Each key's schema and default. A key is unique across the core's settings and every protocol's. */
  readonly shape: S;
  /** Each key's environment variable. */
  readonly env: { readonly [K in keyof S]: string };
  /** Keys given in the environment as comma-separated lists. */
  readonly lists?: readonly (keyof S & string)[];
}

/** One admin route, relative to the REST API's root (/v1): declared by a protocol, served and documented by REST. */
export interface AdminRouteSpec<B extends ZodType = ZodType> {
  method: 'get' | 'post' | 'put' | 'delete';
  /** Express-style: `/scep/challenges`, `/things/:id`. */
  path: string;
  summary: string;
  description?: string;
  /** The OpenAPI tag; default: the protocol's name. */
  tag?: string;
  /** What the credential needs, in words for the document. */
  permission: string;
  /** Counts against the credential's issuance limit too (it leads to a certificate). */
  issuing?: boolean;
  /** Validated before the handler runs; a mismatch is a 400 naming the field. */
  body?: B;
  /** Success answers by status; error answers ({error}) are documented for every route. */
  responses: Record<number, { description: string; schema?: ZodType; headers?: Record<string, string> }>;
}

/** What an admin route's handler knows of the call: the caller REST authenticated, and the validated body. */
export interface AdminCall<B> {
  body: B;
  params: Readonly<Record<string, string>>;
  credential: CredentialRecord;
  /** The caller as the authorization decision sees it. */
  principal: Principal;
  /** Who, through REST, from where: for core.authz and the audit trail. */
  audit: AuditContext;
}

/** An admin route's answer; failures are thrown as AppErrors (badRequest, …) and rendered by REST. */
export interface AdminAnswer {
  status: number;
  body: unknown;
  headers?: Readonly<Record<string, string>>;
}

/** One protocol's adminRoutes, as the Host hands them to the protocol that serves them. */
export interface AdminRouteDeclaration {
  protocol: string;
  declare(routes: AdminRouteKit): void;
}

export interface AdminRouteKit {
  add<B extends ZodType>(spec: AdminRouteSpec<B>, handler: (call: AdminCall<z.output<B>>) => Promise<AdminAnswer>): void;
}

/**
 * What a protocol's resealUnder gets during `certgate master-key rotate`: its own tables (the
 * same guard as tables()) inside the rotation's one transaction, so its rows commit with the
 * core's or not at all, and the sealing under the current and the new master key.
 */
export interface ResealContext {
  readonly kind: 'sqlite' | 'postgres';
  /** Reads and writes here run in the rotation's transaction: execute them directly (no write()). */
  tables<S>(): Kysely<S>;
  readonly from: Sealing;
  readonly to: Sealing;
}

export interface ProtocolModule {
  readonly name: string;
  /** Tables this protocol owns, migrated under its own name (kept apart from the core's). */
  readonly migrations?: Readonly<Record<string, Migration>>;
  /** The credential its clients present (auth/credentialKinds.ts), when it brings a kind of its own. */
  readonly credentialKind?: CredentialKind;
  /** Settings of its own in the deployment's config (see src/core/protocolConfig.ts). */
  readonly config?: ProtocolConfig;
  /**
   * The schema of its product settings (`template.protocols.<name>`): a product created with
   * settings this refuses, or settings for a protocol not registered, is refused with a 400.
   */
  readonly productSettings?: ZodType;
  mount(core: CoreServices): MountedProtocol;
  /**
   * Every value this protocol sealed under the master key in its own tables, opened with `from`
   * and sealed again with `to`; returns how many, by kind (e.g. { ra_keys: 2 }). Throws when one
   * does not open: the whole rotation is then rolled back. A protocol that seals nothing has none.
   */
  resealUnder?(context: ResealContext): Promise<Readonly<Record<string, number>>>;
}

/** The kinds of credential the protocols bring, in registration order. */
export const credentialKindsOf = (protocols: readonly ProtocolModule[]): CredentialKind[] => protocols.flatMap((p) => (p.credentialKind ? [p.credentialKind] : []));
