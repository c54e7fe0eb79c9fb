// The one shape every front-end plugs in with. protocols/<name>/index.ts exports a ProtocolModule;
// the composition root registers them in one list and knows nothing else about them.
import type { RateCounter } from './rateCounter.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from 'express';
import type { Compilable, Kysely, Migration } from 'kysely';
import type { Logger } from 'pino';
import type { CaRegistry } from '../ca/registry.js';
import type { CrlPublisher } from '../ca/crlPublisher.js';
import type { Config } from '../config.js';
import type { JobHandler } from '../queue/types.js';
import type { OcspSignerStore } from '../store/types.js';
import type { Authorizer } from '../auth/authorize.js';
import type { CredentialService } from '../auth/credentialService.js';
import type { EnrollmentService, NameAuthorizer } from './enrollmentService.js';
import type { InventoryService } from './inventoryService.js';
import type { QueryService } from './queries.js';
import type { AuditReader } from './types.js';
import type { RevocationService } from './revocationService.js';

/** Whose status changed: one certificate, or (no serial) everything of a CA. */
export type StatusChangeListener = (caId: string, serialHex?: string) => void;

/** The tables a protocol's own migrations made. A protocol touches no other table. */
export interface ProtocolTables {
  readonly kind: 'sqlite' | 'postgres';
  /** For reads, and for building the statements given to write(). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each protocol types it with its own schema
  readonly db: Kysely<any>;
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

/** Narrow services a front-end gets. Never the whole store. */
export interface CoreServices {
  config: Config;
  log: Logger;
  enrollments: EnrollmentService;
  revocations: RevocationService;
  queries: QueryService;
  /** The inventory's writes: imports, edits, manual status, removal, deployment locations. */
  inventory: InventoryService;
  credentials: CredentialService;
  /** The one authorization decision (may), auditing what it refuses. */
  authz: Authorizer;
  /** The audit trail, to read. */
  audit: AuditReader;
  cas: CaRegistry;
  crls: CrlPublisher;
  ocspSigners: OcspSignerStore;
  /** Encrypts keys the status responder keeps (its delegated OCSP signers) as CA keys are. */
  masterKey: string;
  /** Revocations and reinstatements made by this process or (with Redis) any other. */
  onStatusChange(listener: StatusChangeListener): void;
  /** The protocol's own tables. */
  tables: ProtocolTables;
  /**
   * A queue named `name` (unique across protocols) whose jobs `handler` runs in every process
   * that works jobs. Call it from mount().
   */
  jobs(name: string, handler: JobHandler, options?: JobOptions): ProtocolJobs;
  /** Counters for rate limits, shared by every process when the deployment has Redis. */
  rateCounter: RateCounter;
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
}

export interface ProtocolModule {
  readonly name: string;
  /** Tables this protocol owns, migrated under its own name (kept apart from the core's). */
  readonly migrations?: Readonly<Record<string, Migration>>;
  mount(core: CoreServices): MountedProtocol;
}
