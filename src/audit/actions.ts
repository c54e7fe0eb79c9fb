// The names of what the audit trail records, one per kind of change.
export const AUDIT = {
  requestSubmit: 'request.submit',
  requestReject: 'request.reject',
  requestFail: 'request.fail',
  requestAwaitApproval: 'request.await_approval',
  requestApprove: 'request.approve',
  requestDecline: 'request.decline',
  certificateIssue: 'certificate.issue',
  /** A certificate the gateway issued to itself (SCEP RA, OCSP signer, its TLS certificate), under a CA's system product. */
  certificateSystemIssue: 'certificate.system_issued',
  certificateRevoke: 'certificate.revoke',
  certificateReinstate: 'certificate.reinstate',
  /** An escrowed private key handed out (a PKCS#12 download). */
  certificateKeyExport: 'certificate.key_export',
  /** A private key certgate generated for a client (EST serverkeygen) handed out again. */
  certificateKeyRedeliver: 'certificate.key_redeliver',
  // The inventory: certificates issued elsewhere, editable fields, manual status, locations.
  certificateImport: 'certificate.import',
  certificateEdit: 'certificate.edit',
  certificateMarkRenewed: 'certificate.mark_renewed',
  certificateMarkRevoked: 'certificate.mark_revoked',
  certificateRemove: 'certificate.remove',
  locationAdd: 'location.add',
  locationEdit: 'location.edit',
  locationRemove: 'location.remove',
  credentialCreate: 'credential.create',
  credentialRotate: 'credential.rotate',
  credentialRevoke: 'credential.revoke',
  credentialToken: 'credential.token',
  /** A console session opened with a REST credential's key, and one signed out. */
  consoleSignIn: 'console.sign_in',
  consoleSignOut: 'console.sign_out',
  caCreate: 'ca.create',
  /** An upstream ACME order of a request placed, resumed, finalized or refused (system entries on the request). */
  upstreamOrder: 'ca.upstream_order',
  productCreate: 'product.create',
  /** A product's name or template edited (console or REST); the detail says what changed, from and to. */
  productUpdate: 'product.update',
  authRefused: 'auth.refused',
  // ACME accounts: who may order is decided by them (and by the EAB credential bound to one).
  acmeAccountCreate: 'acme.account_create',
  acmeEabBind: 'acme.eab_bind',
  acmeKeyChange: 'acme.key_change',
  acmeAccountDeactivate: 'acme.account_deactivate',
  /** An ACME authorization made valid from the start by a current validation in the domain registry. */
  acmeAuthzReuse: 'acme.authz_reuse',
  /** A trail from before the chain was keyed, re-sealed under the key once (at the first start after the upgrade). */
  auditChainKeyed: 'audit.chain_keyed',
  /** A signed checkpoint of the trail handed to the operator (`certgate audit checkpoint`). */
  auditCheckpoint: 'audit.checkpoint',
  /** Everything sealed under the master key sealed again under a new one, and the chain re-keyed (`certgate master-key rotate`). */
  masterKeyRotate: 'master_key.rotate',
  /** A request or issuance refused by a per-credential limit (the first refusal of each window). */
  rateLimited: 'rate_limit.refused',
  /** A webhook subscription made or removed (its signing secret is never recorded). */
  webhookCreate: 'webhook.create',
  webhookDelete: 'webhook.delete',
  /** A request stopped until its names are validated (products with dcv: required). */
  requestAwaitDcv: 'request.await_dcv',
  /** A request re-queued because the last of its names was validated. */
  requestResume: 'request.resume',
  // The domain registry: every validation, whatever its outcome (a failure is outcome `failure`).
  domainAdd: 'domain.add',
  domainValidate: 'domain.validate',
  domainRemove: 'domain.remove',
  // Organization records (subject O): made, then approved or declined by someone else (four eyes).
  organizationCreate: 'organization.create',
  organizationApprove: 'organization.approve',
  organizationDecline: 'organization.decline',
  organizationRemove: 'organization.remove',
  /** A SCEP one-time challenge handed out (never the challenge itself). */
  scepChallengeMint: 'scep.challenge_mint',
  /** A CMP transaction's end as the CMP front-end saw it (confirmed, implicitly confirmed, refused by the client, answered with an error). */
  cmpTransaction: 'cmp.transaction',
  /** A tool an MCP client called, and how it ended (what the tool changed is audited by the core on its own). */
  mcpToolCall: 'mcp.tool_call',
} as const;

/**
 * What a certificate's history shows to whoever may read the certificate (admins read the whole
 * trail): the changes to it and its request, as they happened. Refusals and tool calls are left
 * out: they may be another tenant's attempts, with its credential and address.
 */
export const CERTIFICATE_HISTORY_ACTIONS: readonly string[] = [
  AUDIT.requestSubmit,
  AUDIT.requestAwaitApproval,
  AUDIT.requestAwaitDcv,
  AUDIT.requestResume,
  AUDIT.requestApprove,
  AUDIT.requestDecline,
  AUDIT.requestReject,
  AUDIT.requestFail,
  AUDIT.certificateIssue,
  AUDIT.certificateRevoke,
  AUDIT.certificateReinstate,
  AUDIT.certificateKeyExport,
  AUDIT.certificateKeyRedeliver,
  AUDIT.certificateImport,
  AUDIT.certificateEdit,
  AUDIT.certificateMarkRenewed,
  AUDIT.certificateMarkRevoked,
  AUDIT.certificateRemove,
  AUDIT.locationAdd,
  AUDIT.locationEdit,
  AUDIT.locationRemove,
];

export type AuditAction = (typeof AUDIT)[keyof typeof AUDIT];
/** What the ACME front-end may write to the trail (CredentialService.recordAcmeAccountEvent). */
export type AcmeAccountAction = typeof AUDIT.acmeAccountCreate | typeof AUDIT.acmeEabBind | typeof AUDIT.acmeKeyChange | typeof AUDIT.acmeAccountDeactivate | typeof AUDIT.acmeAuthzReuse;
/** What the CMP front-end may write to the trail (CredentialService.recordCmpEvent). */
export type CmpAction = typeof AUDIT.cmpTransaction;
export const AUDIT_ACTIONS: readonly AuditAction[] = Object.values(AUDIT);

/** The actor of what the CLI does, and of what the worker decides on its own. */
export const CLI_ACTOR = 'cli';
export const SYSTEM_ACTOR = 'system';
