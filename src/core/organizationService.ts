// Organization records: the O (with OU, C, ST, L) a product with subject.organization 'validated'
// puts in a certificate. A record is made pending, approved or declined once by someone other than
// who made it (four eyes; the CLI, `cli`, is the operator and not held to it), lasts the
// deployment's organizationValidityDays from its approval, and covers requesters whose holders
// include its holder. Who may do what is the caller's to ask (auth/authorize.ts, heldResource).
import { z } from 'zod';
import { AUDIT, CLI_ACTOR } from '../audit/actions.js';
import { MAX_COMMON_NAME } from '../policy/subject.js';
import type { OrganizationFilter, Store } from '../store/types.js';
import type { HolderSource } from './domainRegistry.js';
import { badRequest, conflict, forbidden, notFound } from './errors.js';
import { newId } from './ids.js';
import { requesterHolders } from './requesterHolders.js';
import type { AuditContext, Holder, OrganizationRecord } from './types.js';

const DAY_MS = 86_400_000;

// Values go into certificate subjects as they are: no control characters, no padding.
const attribute = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(MAX_COMMON_NAME, `${what} is at most ${MAX_COMMON_NAME} characters`)
    .refine((v) => v.trim() === v, `${what} must not start or end with spaces`)
    .refine((v) => !/\p{Cc}/u.test(v), `${what} must not hold control characters`);

/** The subject attributes of a record, as REST and the CLI take them. */
export const organizationFields = {
  name: attribute('name (O)').describe('O: the organization\'s legal name'),
  unit: attribute('unit (OU)').optional().describe('OU'),
  country: z.string().regex(/^[A-Z]{2}$/, 'country (C) is a two-letter country code in upper case, e.g. DE').optional().describe('C: ISO 3166 two-letter code'),
  state: attribute('state (ST)').optional().describe('ST'),
  locality: attribute('locality (L)').optional().describe('L'),
};

/** A holder as records name them (model/domains.ts): `*`, or user:, group:, credential:, requester: and a name. */
export const holderSchema = z
  .string()
  .max(200)
  .regex(/^(\*|(user|group|credential|requester):\P{Cc}{1,190})$/u, 'holder is *, or user:<name>, group:<name>, credential:<id> or requester:<principal>');

const fieldsSchema = z.object({ ...organizationFields, holder: holderSchema }).strict();
export type OrganizationInput = z.input<typeof fieldsSchema>;

export const DECLINE_REASON_MAX = 500;

/** A record as REST answers and `certgate organization … --json` prints it; `expired` as of `now`. */
export function organizationJson(o: OrganizationRecord, now: number) {
  return {
    id: o.id,
    name: o.name,
    unit: o.unit,
    country: o.country,
    state: o.state,
    locality: o.locality,
    holder: o.holder,
    status: o.status,
    expired: o.status === 'approved' && o.expiresAt !== null && o.expiresAt.getTime() <= now,
    created_by: o.createdBy,
    decided_by: o.decidedBy,
    decided_at: o.decidedAt?.toISOString() ?? null,
    expires_at: o.expiresAt?.toISOString() ?? null,
    reason: o.reason,
    created_at: o.createdAt.toISOString(),
    updated_at: o.updatedAt.toISOString(),
  };
}

export class OrganizationService {
  constructor(
    private readonly store: Pick<Store, 'organizations' | 'audit' | 'credentials'>,
    private readonly validityDays: number,
    private readonly now: () => number,
  ) {}

  /** A new pending record held by `input.holder`; `createdBy` is who made it, as approval compares it (`apikey:<id>`, `cli`). */
  async create(input: OrganizationInput, createdBy: string, by: AuditContext): Promise<OrganizationRecord> {
    const parsed = fieldsSchema.safeParse(input);
    if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => i.message).join('; '));
    const f = parsed.data;
    const id = newId(this.now());
    return this.store.organizations.insert(
      { id, holder: f.holder, name: f.name, unit: f.unit ?? null, country: f.country ?? null, state: f.state ?? null, locality: f.locality ?? null, createdBy },
      { ...by, action: AUDIT.organizationCreate, target: id, outcome: 'success', detail: { name: f.name, holder: f.holder } },
    );
  }

  get(id: string): Promise<OrganizationRecord | undefined> {
    return this.store.organizations.get(id);
  }

  list(filter: OrganizationFilter): Promise<OrganizationRecord[]> {
    return this.store.organizations.list(filter);
  }

  /** Approves a pending record until now + organizationValidityDays. `decider` as createdBy names people. */
  async approve(id: string, by: AuditContext, decider: string): Promise<OrganizationRecord> {
    const at = new Date(this.now());
    const expiresAt = new Date(at.getTime() + this.validityDays * DAY_MS);
    const record = await this.holdFourEyes(id, by, decider, AUDIT.organizationApprove);
    const decided = await this.store.organizations.decide(id, { status: 'approved', decidedBy: decider, decidedAt: at, expiresAt }, {
      ...by,
      action: AUDIT.organizationApprove,
      target: id,
      outcome: 'success',
      detail: { name: record.name, holder: record.holder, expiresAt: expiresAt.toISOString() },
    });
    return decided ?? this.notPending(id);
  }

  async decline(id: string, reason: string, by: AuditContext, decider: string): Promise<OrganizationRecord> {
    const why = reason.trim();
    if (!why) throw badRequest('reason: say why the organization is declined');
    if (why.length > DECLINE_REASON_MAX) throw badRequest(`reason is at most ${DECLINE_REASON_MAX} characters`);
    const record = await this.holdFourEyes(id, by, decider, AUDIT.organizationDecline);
    const decided = await this.store.organizations.decide(id, { status: 'declined', decidedBy: decider, decidedAt: new Date(this.now()), reason: why }, {
      ...by,
      action: AUDIT.organizationDecline,
      target: id,
      outcome: 'success',
      detail: { name: record.name, holder: record.holder, reason: why },
    });
    return decided ?? this.notPending(id);
  }

  async remove(id: string, by: AuditContext): Promise<OrganizationRecord> {
    const removed = await this.store.organizations.remove(id, { ...by, action: AUDIT.organizationRemove, target: id, outcome: 'success' });
    if (!removed) throw notFound(`organization ${id} not found`);
    return removed;
  }

  /** The approved, unexpired record named `name` of one of `holders`, if any. */
  validatedFor(holders: readonly Holder[], name: string): Promise<OrganizationRecord | undefined> {
    return this.store.organizations.findValidated(holders, name, new Date(this.now()));
  }

  /** validatedFor the holders of a request's requester (its credential's, its own, the deployment's). */
  async validatedForRequester(source: HolderSource, name: string): Promise<OrganizationRecord | undefined> {
    return this.validatedFor(await requesterHolders(source, (id) => this.store.credentials.get(id)), name);
  }

  /** The record, unless its maker would decide it (the CLI is the operator and may). Refusals are audited. */
  private async holdFourEyes(id: string, by: AuditContext, decider: string, action: string): Promise<OrganizationRecord> {
    const record = await this.store.organizations.get(id);
    if (!record) throw notFound(`organization ${id} not found`);
    if (decider === CLI_ACTOR || decider !== record.createdBy) return record;
    const reason = 'four eyes: an organization is approved or declined by someone other than who made it';
    await this.store.audit.append({ ...by, action, target: id, outcome: 'refused', detail: { reason: 'fourEyes', createdBy: record.createdBy } });
    throw forbidden(reason);
  }

  private async notPending(id: string): Promise<never> {
    const record = await this.store.organizations.get(id);
    if (!record) throw notFound(`organization ${id} not found`);
    throw conflict(`organization ${id} is ${record.status}: only a pending organization is approved or declined`);
  }
}
