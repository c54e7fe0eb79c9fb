// ACME and the domain registry (src/core/domainRegistry.ts), both ways. A name the registry holds a
// current validation of, for the account's holders, is authorized from the start, as Let's Encrypt
// reuses an authorization; a name an ACME challenge proves is recorded there, so that a request of
// the same holder over another protocol is covered within its product's window without a new proof.
import type { Logger } from 'pino';
import type { DomainRegistry, HolderSource } from '../../src/core/domainRegistry.js';
import { reuseWindowMs, type DcvMethod, type DomainRecord, type ProductRecord } from '../../src/core/types.js';
import { readProductTemplate } from '../../src/policy/productSchema.js';
import type { Account, AcmeDb, ChallengeType, Identifier } from './db.js';
import { requesterOf } from './orderStatus.js';
import type { ValidationSucceeded } from './validation.js';

/** Where the registry looks for an account's validations: its EAB credential's holders, and the account itself. */
export function holderSourceOf(account: Pick<Account, 'id' | 'eabCredentialId'>): HolderSource {
  return { credentialId: account.eabCredentialId, requester: requesterOf({ accountId: account.id }) };
}

/** A registry validation an order's authorization stands on, and the moment it stops covering the name. */
export interface Reuse {
  record: DomainRecord & { method: DcvMethod; validatedAt: Date };
  until: Date;
}

/**
 * Per identifier value as ordered (`*.x` for a wildcard; an IP address as the client wrote it), the
 * registry validation that authorizes it under the order's product now and still at `validUntil`.
 * What covers a name (a wildcard only over dns-01, a parent only with dcv.subdomains) is the
 * registry's coverage() alone; the product's reuse window holds whatever its dcv mode, since ACME
 * proves names under every product.
 */
export async function reusableValidations(
  registry: DomainRegistry,
  account: Pick<Account, 'id' | 'eabCredentialId'>,
  product: ProductRecord,
  identifiers: readonly Identifier[],
  maxReuseDays: number,
  validUntil: number,
): Promise<Map<string, Reuse>> {
  const reused = new Map<string, Reuse>();
  // Read with the defaults: a product stored before products had dcv settings has none.
  const policy = readProductTemplate(product.template)?.dcv;
  if (!policy) return reused;
  const names = identifiers.map((i) => i.value);
  const holders = await registry.holdersOf(holderSourceOf(account));
  const windowMs = reuseWindowMs(policy, maxReuseDays);
  for (const { name, coveredBy } of await registry.coverage(names, holders, policy)) {
    if (!coveredBy?.validatedAt || !coveredBy.method) continue;
    const until = Math.min(coveredBy.validatedAt.getTime() + windowMs, coveredBy.expiresAt?.getTime() ?? Infinity);
    if (until <= validUntil) continue;
    reused.set(name, { record: { ...coveredBy, method: coveredBy.method, validatedAt: coveredBy.validatedAt }, until: new Date(until) });
  }
  return reused;
}

/**
 * The registry's method for what a challenge proved. tls-alpn-01 is recorded as http-01: both prove
 * control of the one host name they were made for (Baseline Requirements 3.2.2.4.19 and 3.2.2.4.20:
 * neither covers a wildcard), and that reach is all the registry reads a method for; dns-01 proves
 * control of the name's DNS, which alone stands for a wildcard.
 */
const REGISTRY_METHOD: Record<ChallengeType, DcvMethod> = { 'http-01': 'http-01', 'dns-01': 'dns-01', 'tls-alpn-01': 'http-01' };

/** Records each name an ACME challenge proved in the registry, under the holder the account's records get. */
export function recordInRegistry(registry: DomainRegistry, db: AcmeDb, log: Logger): ValidationSucceeded {
  return async ({ challenge, authz, validatedAt }) => {
    const account = await db.account(authz.accountId);
    if (!account) return;
    const source = holderSourceOf(account);
    const record = await registry.recordValidation(
      {
        name: authz.identifier.value,
        wildcard: authz.wildcard,
        method: REGISTRY_METHOD[challenge.type],
        holder: await registry.holderFor(source),
        validatedAt,
        createdBy: source.requester,
      },
      // The job runs on the worker: there is no client address to record.
      { actor: account.eabCredentialId ?? `acme-account:${account.id}`, protocol: 'acme', sourceIp: null },
    );
    log.debug({ authzId: authz.id, domainId: record.id, challenge: challenge.type }, 'ACME validation recorded in the domain registry');
  };
}
