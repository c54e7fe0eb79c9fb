// The shapes of the REST answers, as zod schemas: serialize.ts builds answers of these types and
// the OpenAPI document is generated from them (Certman's field names, snake_case, ISO 8601 times).
import { z } from 'zod';
import { CA_BACKEND_KINDS, DCV_METHODS, DOMAIN_STATUSES } from '../../src/core/types.js';

const time = z.string().meta({ format: 'date-time' });
const nullableTime = time.nullable();

/** A record's id in a path: `/…/:id`. */
export const resourceId = z.string().min(1).max(200);
export const idParams = z.object({ id: resourceId });

export const errorSchema = z.object({ error: z.string() }).meta({ id: 'Error' });

export const caSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    common_name: z.string().nullable(),
    organization: z.string().nullable(),
    key_algorithm: z.string(),
    valid_from: time,
    valid_to: time,
    created_at: time,
    parent_ca_id: z.string().nullable(),
    depth: z.number().int().describe('0 for a root'),
    path_length: z.number().int().nullable().describe('null: unlimited'),
    type: z.enum(['root', 'intermediate']),
    subject: z.string(),
    backend: z.enum(CA_BACKEND_KINDS).describe('who signs: local (a key certgate keeps sealed), pkcs11 (a key in a token), upstream-acme (another CA, over ACME)'),
    capabilities: z
      .object({
        sign_locally: z.boolean().describe('certgate computes the signatures (with its key or through a token)'),
        crl: z.boolean().describe('certgate publishes this CA\'s CRL at /crl/<id>.crl'),
        ocsp: z.boolean().describe('certgate\'s OCSP responder answers for its certificates'),
        revoke: z.enum(['local', 'upstream']).describe('where a revocation takes effect: certgate\'s CRL and OCSP, or the upstream CA (asked first)'),
        suspend: z.boolean().describe('certificates can be put on hold and reinstated'),
      })
      .describe('what the backend can do; anything else is refused with 409'),
  })
  .meta({ id: 'Ca' });

export const caDetailSchema = caSchema
  .extend({
    country: z.string().nullable(),
    state: z.string().nullable(),
    locality: z.string().nullable(),
    certificate_pem: z.string(),
    serial_number: z.string(),
    has_passphrase: z.boolean(),
    revoked_at: nullableTime,
    revocation_reason: z.string().nullable(),
  })
  .meta({ id: 'CaDetail' });

export const certificateSchema = z
  .object({
    id: z.string(),
    ca_id: z.string().nullable(),
    common_name: z.string().nullable(),
    san_dns: z.array(z.string()),
    san_ip: z.array(z.string()),
    key_algorithm: z.string(),
    valid_from: time,
    valid_to: time,
    serial_number: z.string(),
    revoked_at: nullableTime,
    revocation_reason: z.string().nullable(),
    created_at: time,
    // certgate's additions.
    product_id: z.string().nullable(),
    request_id: z.string().nullable(),
    status: z.enum(['active', 'revoked', 'expired']).describe('a certificate on hold is revoked with reason certificateHold'),
    source: z.enum(['issued', 'imported']),
    issuer: z.string().nullable(),
    san_email: z.array(z.string()),
    san_uri: z.array(z.string()),
    invalidity_date: nullableTime,
    owner: z.string().nullable(),
    notes: z.string().nullable(),
    custom_fields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    supersedes: z.string().nullable(),
    renewed_by: z.string().nullable(),
  })
  .meta({ id: 'Certificate' });

export const certificateDetailSchema = certificateSchema.extend({ certificate_pem: z.string() }).meta({ id: 'CertificateDetail' });

/** POST /v1/certificates and renewals: Certman's fields first, the chain and the rest after. */
export const issuedSchema = z
  .object({
    message: z.string().optional().describe('renewals and the like: what was done'),
    certificate: certificateDetailSchema.extend({ chain_pem: z.string() }),
    privateKey: z.string().optional().describe('PKCS#8 PEM, managed mode only, returned once'),
    notice: z.string().optional(),
  })
  .meta({ id: 'Issued' });

/** What to publish for a domain, both ways (src/core/domainChallenges.ts builds it). */
export const challengesSchema = z
  .object({
    'http-01': z.object({
      url: z.string().describe('serve `content` at this URL (plain HTTP, port 80)'),
      alternative_url: z.string().describe('or at this one, the path ACME clients already serve'),
      content: z.string().describe('the whole body of the file: the token'),
    }),
    'dns-01': z.object({
      record_name: z.string().describe("the product's dnsLabel (default _certgate-challenge) under the domain"),
      type: z.literal('TXT'),
      value: z.string().describe('the token'),
    }),
  })
  .meta({ id: 'DomainChallenges' });

export const domainSchema = z
  .object({
    id: z.string(),
    name: z.string().describe('lower-case, no trailing dot; a wildcard *.name is covered by name validated over dns-01'),
    holder: z.string().describe("who it belongs to: user:<u>, group:<g>, credential:<id>, requester:<principal>, or '*' (the whole deployment)"),
    status: z.enum(DOMAIN_STATUSES),
    method: z.enum(DCV_METHODS).nullable().describe('of the last validation (or the one asked for)'),
    validated_at: nullableTime,
    expires_at: nullableTime.describe("validated_at + CERTGATE_DCV_MAX_REUSE_DAYS; each product's dcv.reuseDays may end its use sooner"),
    last_error: z.string().nullable().describe('why the last check failed'),
    source: z.enum(['registry', 'request', 'acme']).describe('added here or by the CLI, made for a request waiting on validation, or proved by an ACME authorization'),
    created_by: z.string(),
    created_at: time,
    challenges: challengesSchema,
  })
  .meta({ id: 'Domain' });

/** One name of a request under a product with dcv: required, and the record that must prove it. */
export const requestDcvEntrySchema = z
  .object({
    name: z.string(),
    covered: z.boolean().describe("whether a current validation covers it for the request's product"),
    domain_id: z.string(),
    status: domainSchema.shape.status,
    method: domainSchema.shape.method,
    token: z.string(),
    last_error: z.string().nullable(),
    validated_at: nullableTime,
    challenges: challengesSchema.describe("where to publish the token (dns-01 under the request's product's dnsLabel)"),
  })
  .meta({ id: 'RequestDcvEntry' });

export const requestDcvSchema = z
  .object({ request_id: z.string(), request_status: z.string(), names: z.array(requestDcvEntrySchema) })
  .meta({ id: 'RequestDcv' });

export const rejectionSchema = z.object({
  code: z.string(),
  rule: z.string(),
  detail: z.string(),
  identifiers: z.array(z.object({ identifier: z.string(), detail: z.string() })).optional(),
});

export const requestSchema = z
  .object({
    id: z.string(),
    product_id: z.string(),
    ca_id: z.string(),
    names: z.array(z.string()).describe("the names its CSR asks for (common names first, then the SAN's)"),
    protocol: z.string(),
    requester: z.string(),
    status: z.string(),
    status_reason: z.string().nullable(),
    rejection: rejectionSchema.optional(),
    certificate_id: z.string().nullable(),
    approved_by: z.string().nullable(),
    key_source: z.enum(['csr', 'managed']),
    supersedes: z.string().nullable(),
    created_at: time,
    updated_at: time,
    dcv: z.array(requestDcvEntrySchema).optional().describe('status pending_dcv: the names it waits on and how to prove them (GET /v1/requests/{id}/dcv)'),
  })
  .meta({ id: 'Request' });

/** A request accepted but not yet settled (approval, validation, a slow queue). */
export const pendingSchema = requestSchema
  .extend({ request_id: z.string(), privateKey: z.string().optional().describe('managed mode: the key of the certificate to come, returned once') })
  .meta({ id: 'Pending' });

export const pageFields = { total: z.number().int(), page: z.number().int(), pageSize: z.number().int(), totalPages: z.number().int() };

