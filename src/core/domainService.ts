// The domain registry (domainRegistry.ts): records of names a holder proves control of, their
// validations on a queue of their own through src/dcv, and the say the worker asks for on requests
// of products with dcv: required. What covers what is decided here, in coverage(), and nowhere else.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AUDIT, SYSTEM_ACTOR } from '../audit/actions.js';
import { validateDomainControl } from '../dcv/index.js';
import { parseIdentifier } from '../dcv/identifiers.js';
import type { DcvSettings } from '../dcv/types.js';
import type { WebhookService } from '../notify/webhookService.js';
import { readProductTemplate } from '../policy/productSchema.js';
import type { JobHandler, JobQueue } from '../queue/types.js';
import type { Store } from '../store/types.js';
import { VALIDATION_ATTEMPTS } from './dcvSettings.js';
import type { DomainListFilter, DomainRegistry, HolderSource, NameCoverage, RequestDcvEntry } from './domainRegistry.js';
import type { EnrollmentService } from './enrollmentService.js';
import { AppError, badRequest, notFound } from './errors.js';
import { newId } from './ids.js';
import { requesterHolders } from './requesterHolders.js';
import {
  DEFAULT_DNS_LABEL,
  DOMAIN_STATUSES,
  EVERYONE,
  holderOfCredential,
  type AuditContext,
  type AuditEntryInput,
  type DcvMethod,
  type DcvPolicy,
  type DomainRecord,
  type EnrollmentRequest,
  type Holder,
  reuseWindowMs,
} from './types.js';

const DAY_MS = 86_400_000;
const SYSTEM: AuditContext = { actor: SYSTEM_ACTOR, protocol: 'system', sourceIp: null };

export interface DomainServiceDeps {
  store: Store;
  /** The validations' own queue (job id = domain id). */
  queue: JobQueue;
  enrollments: Pick<EnrollmentService, 'resume'>;
  webhooks: Pick<WebhookService, 'emit'>;
  settings: DcvSettings;
  /** The deployment's cap on every product's reuseDays, and how long a validation lasts at all. */
  maxReuseDays: number;
  now: () => number;
  log: Logger;
}

/** A name as records hold it: lower-case, no trailing dot, an IP address in canonical text; `*.` kept apart. */
interface ParsedName {
  base: string;
  wildcard: boolean;
  ip: boolean;
}

function parseName(input: string): ParsedName | { problem: string } {
  const trimmed = input.trim().replace(/\.$/, '');
  const looksIp = /^[0-9a-fA-F:.]+$/.test(trimmed) && (trimmed.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(trimmed));
  const target = parseIdentifier({ type: looksIp ? 'ip' : 'dns', value: trimmed });
  if ('problem' in target) return { problem: target.problem.detail };
  return { base: target.name, wildcard: target.wildcard, ip: target.type === 'ip' };
}

/** `name` as a record's name; throws a 400 for anything that is not a DNS name or an IP address. */
export function recordName(input: string): string {
  const parsed = parseName(input);
  if ('problem' in parsed) throw badRequest(parsed.problem);
  if (parsed.wildcard) throw badRequest(`${input} is a wildcard: add ${parsed.base} and validate it over dns-01`);
  return parsed.base;
}

/** The parents of a DNS name that may hold a validation for it (two labels at least: never a TLD). */
function parentsOf(name: string): string[] {
  const labels = name.split('.');
  const parents: string[] = [];
  for (let i = 1; labels.length - i >= 2; i++) parents.push(labels.slice(i).join('.'));
  return parents;
}

const newToken = (): string => randomBytes(32).toString('base64url');

/** Checks one job makes of a record asked to validate again while it ran; past them, the sweep re-queues it. */
const MAX_ROUNDS_PER_JOB = 3;

export class DomainService implements DomainRegistry {
  constructor(private readonly deps: DomainServiceDeps) {}

  private get store(): Store {
    return this.deps.store;
  }

  private entry(by: AuditContext, action: string, d: DomainRecord, outcome: AuditEntryInput['outcome'], detail: Record<string, unknown> = {}): AuditEntryInput {
    return { ...by, action, target: d.id, outcome, detail: { name: d.name, holder: d.holder, ...detail } };
  }

  async add(input: { name: string; holder: Holder; createdBy: string; source?: DomainRecord['source'] }, by: AuditContext): Promise<{ domain: DomainRecord; created: boolean }> {
    const name = recordName(input.name);
    const source = input.source ?? 'registry';
    return this.store.domains.insert({ id: newId(this.deps.now()), name, holder: input.holder, token: newToken(), source, createdBy: input.createdBy }, (d) =>
      this.entry(by, AUDIT.domainAdd, d, 'success', { source }),
    );
  }

  get(id: string): Promise<DomainRecord | undefined> {
    return this.store.domains.get(id);
  }

  list(filter: DomainListFilter): Promise<DomainRecord[]> {
    return this.store.domains.list(filter);
  }

  /**
   * A request waiting on the record goes back to the worker, which decides it again: it links a new
   * record for its name (or finds the name covered by another), instead of waiting on one that is gone.
   */
  async remove(id: string, by: AuditContext): Promise<boolean> {
    const waiting = await this.store.domains.requestsOfDomain(id);
    if ((await this.store.domains.remove(id, (d) => this.entry(by, AUDIT.domainRemove, d, 'success'))) === undefined) return false;
    for (const requestId of waiting) await this.resumeIfWaiting(requestId);
    return true;
  }

  async validate(id: string, method: DcvMethod | undefined, by: AuditContext): Promise<DomainRecord> {
    const domain = await this.store.domains.get(id);
    if (!domain) throw notFound(`domain ${id} not found`);
    const chosen = method ?? domain.method ?? 'http-01';
    const parsed = parseName(domain.name);
    if (chosen === 'dns-01' && !('problem' in parsed) && parsed.ip) throw badRequest(`${domain.name} is an IP address: dns-01 cannot validate it; use http-01`);
    const moved = await this.store.domains.move(id, DOMAIN_STATUSES, { status: 'validating', method: chosen, lastError: null }, (d) =>
      this.entry(by, AUDIT.domainValidate, d, 'success', { method: chosen, step: 'queued' }),
    );
    if (!moved) throw notFound(`domain ${id} not found`);
    await this.deps.queue.enqueue(id);
    return moved;
  }

  async waitForValidation(id: string, timeoutMs: number): Promise<DomainRecord | undefined> {
    const domain = await this.store.domains.get(id);
    if (domain?.status !== 'validating') return domain;
    await this.deps.queue.waitFor(id, timeoutMs);
    return this.store.domains.get(id);
  }

  async holdersOf(source: HolderSource): Promise<Holder[]> {
    return requesterHolders(source, (id) => this.store.credentials.get(id));
  }

  async holderFor(source: HolderSource): Promise<Holder> {
    const credential = source.credentialId === null ? undefined : await this.store.credentials.get(source.credentialId);
    return credential ? holderOfCredential(credential) : `requester:${source.requester}`;
  }

  /**
   * A name is covered by a `valid` record of one of the holders validated within the window: its
   * own record (any method); for `*.x`, the record of x over dns-01; with policy.subdomains, a
   * dns-01 record of a parent. A parent only ever counts over dns-01: an http-01 file proves control
   * of one host, not of the zone (BR 3.2.2.4.18 forbids reusing it for other names under it).
   */
  async coverage(names: readonly string[], holders: readonly Holder[], policy: DcvPolicy): Promise<NameCoverage[]> {
    const now = this.deps.now();
    const oldest = now - reuseWindowMs(policy, this.deps.maxReuseDays);
    const parsed = names.map((name) => ({ name, parsed: parseName(name) }));
    const candidates = new Set<string>();
    for (const { parsed: p } of parsed) {
      if ('problem' in p) continue;
      candidates.add(p.base);
      if (!p.ip && policy.subdomains) for (const parent of parentsOf(p.base)) candidates.add(parent);
    }
    const current = (await this.store.domains.findByNames([...candidates], holders)).filter(
      (d) => d.status === 'valid' && d.validatedAt !== null && d.validatedAt.getTime() > oldest && (d.expiresAt === null || d.expiresAt.getTime() > now),
    );
    return parsed.map(({ name, parsed: p }) => {
      if ('problem' in p) return { name, coveredBy: null };
      const parents = !p.ip && policy.subdomains ? new Set(parentsOf(p.base)) : new Set<string>();
      const covering = current.filter((d) => (d.name === p.base && (!p.wildcard || d.method === 'dns-01')) || (parents.has(d.name) && d.method === 'dns-01'));
      const best = covering.reduce<DomainRecord | null>((a, d) => (a === null || (d.validatedAt?.getTime() ?? 0) > (a.validatedAt?.getTime() ?? 0) ? d : a), null);
      return { name, coveredBy: best };
    });
  }

  async checkRequest(request: EnrollmentRequest, names: readonly string[], policy: DcvPolicy): Promise<{ ok: true } | { ok: 'pending'; detail: string }> {
    const source = { credentialId: request.credentialId, requester: request.requester };
    const holders = await this.holdersOf(source);
    const missing = (await this.coverage(names, holders, policy)).filter((c) => c.coveredBy === null).map((c) => c.name);
    if (missing.length === 0) return { ok: true };
    const holder = await this.holderFor(source);
    const links: { name: string; domainId: string }[] = [];
    for (const name of missing) {
      const parsed = parseName(name);
      // The decided profile only holds names the policy accepted; one this cannot read waits for nothing it could prove.
      if ('problem' in parsed) return { ok: 'pending', detail: `waiting for domain control validation of ${name}, which no record can hold: ${parsed.problem}` };
      // A record the requester can act on: its own holder's, else another of its holders' but the
      // deployment's (which only an admin may validate), else a new one under its own holder.
      const known = (await this.store.domains.findByNames([parsed.base], holders)).filter((d) => d.holder !== EVERYONE);
      const domain = known.find((d) => d.holder === holder) ?? known[0] ?? (await this.add({ name: parsed.base, holder, createdBy: request.requester, source: 'request' }, SYSTEM)).domain;
      links.push({ name, domainId: domain.id });
    }
    await this.store.domains.link(request.id, links);
    return { ok: 'pending', detail: `waiting for domain control validation of ${missing.join(', ')}` };
  }

  async ofRequest(request: EnrollmentRequest, policy: DcvPolicy): Promise<RequestDcvEntry[]> {
    const links = await this.store.domains.linksOfRequest(request.id);
    const holders = await this.holdersOf({ credentialId: request.credentialId, requester: request.requester });
    const coverage = await this.coverage(
      links.map((l) => l.name),
      holders,
      policy,
    );
    const entries: RequestDcvEntry[] = [];
    for (const [i, link] of links.entries()) {
      const domain = await this.store.domains.get(link.domainId);
      // A link whose record was removed shows nothing to act on.
      if (domain) entries.push({ name: link.name, domain, covered: coverage[i]?.coveredBy != null });
    }
    return entries;
  }

  async recordValidation(input: { name: string; wildcard: boolean; method: DcvMethod; holder: Holder; validatedAt: Date; createdBy: string }, by: AuditContext): Promise<DomainRecord> {
    const name = recordName(input.name.startsWith('*.') ? input.name.slice(2) : input.name);
    const expiresAt = new Date(input.validatedAt.getTime() + this.deps.maxReuseDays * DAY_MS);
    const domain = await this.store.domains.recordValid(
      { id: newId(this.deps.now()), name, holder: input.holder, token: newToken(), source: 'acme', createdBy: input.createdBy, method: input.method, validatedAt: input.validatedAt, expiresAt },
      (d) => this.entry(by, AUDIT.domainValidate, d, 'success', { method: input.method, wildcard: input.wildcard, step: 'recorded' }),
    );
    // A name proved over ACME is proved for the requests of other protocols waiting on it too.
    await this.resumeCovered(domain);
    return domain;
  }

  /** Validations still `validating` whose job a dead process took with it get one again (the queue dedupes). */
  async requeueValidating(batch = 1000): Promise<number> {
    const waiting = await this.store.domains.list({ holders: '*', status: 'validating', limit: batch });
    for (const d of waiting) await this.deps.queue.enqueue(d.id);
    return waiting.length;
  }

  /** The validation job: one record, by the method it is `validating` by. */
  handler(): JobHandler {
    return {
      process: async (id, attempt) => {
        // A validate() asked after this run recorded its outcome, while it was still resuming requests,
        // found the job id taken (the queue dedupes): the record is `validating` again, and this run
        // checks again rather than leave it to the sweep.
        for (let round = 0; round < MAX_ROUNDS_PER_JOB; round++) {
          const domain = await this.store.domains.get(id);
          if (!domain || domain.status !== 'validating' || domain.method === null) return;
          const result = await validateDomainControl({ method: domain.method, name: domain.name, token: domain.token, dnsLabels: await this.dnsLabelsOf(domain) }, this.deps.settings);
          if (result.ok) await this.succeeded(domain);
          else if (result.retryable && attempt < VALIDATION_ATTEMPTS) throw new Error(`${domain.method} for ${domain.name}: ${result.problem.detail}`);
          else await this.failed(domain, result.problem.detail);
        }
      },
      onExhausted: async (id, error) => {
        const domain = await this.store.domains.get(id);
        if (domain) await this.failed(domain, error.message);
      },
    };
  }

  /** The default label and those of the products of the requests waiting on the record. */
  private async dnsLabelsOf(domain: DomainRecord): Promise<string[]> {
    const labels = new Set([DEFAULT_DNS_LABEL]);
    for (const request of await this.requestsWaitingOn(domain)) {
      const policy = await this.dcvPolicyOf(request);
      if (policy) labels.add(policy.dnsLabel);
    }
    return [...labels];
  }

  /** The DCV settings of the request's product; undefined for a product gone or one this version refuses. */
  private async dcvPolicyOf(request: EnrollmentRequest): Promise<DcvPolicy | undefined> {
    const product = await this.store.products.get(request.productId);
    return (product && readProductTemplate(product.template)?.dcv) ?? undefined;
  }

  private async requestsWaitingOn(domain: DomainRecord): Promise<EnrollmentRequest[]> {
    const requests: EnrollmentRequest[] = [];
    for (const id of await this.store.domains.requestsOfDomain(domain.id)) {
      const request = await this.store.requests.get(id);
      if (request?.status === 'pending_dcv') requests.push(request);
    }
    return requests;
  }

  private async succeeded(domain: DomainRecord): Promise<void> {
    const now = this.deps.now();
    const moved = await this.store.domains.move(
      domain.id,
      ['validating'],
      { status: 'valid', validatedAt: new Date(now), expiresAt: new Date(now + this.deps.maxReuseDays * DAY_MS), lastError: null },
      (d) => this.entry(SYSTEM, AUDIT.domainValidate, d, 'success', { method: d.method }),
    );
    if (moved) await this.resumeCovered(moved);
  }

  /** Re-queues each request waiting on the record whose names are all covered now. */
  async resumeCovered(domain: DomainRecord): Promise<void> {
    for (const request of await this.requestsWaitingOn(domain)) {
      const policy = await this.dcvPolicyOf(request);
      if (!policy) continue;
      const names = (await this.store.domains.linksOfRequest(request.id)).map((l) => l.name);
      const holders = await this.holdersOf({ credentialId: request.credentialId, requester: request.requester });
      if (!(await this.coverage(names, holders, policy)).every((c) => c.coveredBy !== null)) continue;
      await this.resumeIfWaiting(request.id);
    }
  }

  private async resumeIfWaiting(requestId: string): Promise<void> {
    try {
      await this.deps.enrollments.resume(requestId);
    } catch (error) {
      // No longer pending_dcv: someone else resumed it meanwhile (another validation, the worker's re-check).
      if (!(error instanceof AppError)) throw error;
    }
  }

  private async failed(domain: DomainRecord, detail: string): Promise<void> {
    const moved = await this.store.domains.move(domain.id, ['validating'], { status: 'failed', lastError: detail }, (d) =>
      this.entry(SYSTEM, AUDIT.domainValidate, d, 'failure', { method: d.method, error: detail }),
    );
    // Only the run whose move recorded the failure tells, so a retried job tells once.
    if (!moved) return;
    const waiting = await this.requestsWaitingOn(moved);
    await this.deps.webhooks
      .emit({
        id: `msg_dcvd${moved.id}_${moved.updatedAt.getTime()}`,
        type: 'dcv.failed',
        productId: waiting[0]?.productId ?? null,
        data: { protocol: 'registry', domainId: moved.id, name: moved.name, holder: moved.holder, method: moved.method, problem: detail, requests: waiting.map((r) => r.id) },
      })
      .catch((e: Error) => this.deps.log.warn({ err: e.message, domainId: moved.id }, 'could not record dcv.failed'));
  }
}
