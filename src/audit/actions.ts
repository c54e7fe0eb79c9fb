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
  caCreate: 'ca.create',
  productCreate: 'product.create',
  authRefused: 'auth.refused',
} as const;

export type AuditAction = (typeof AUDIT)[keyof typeof AUDIT];
export const AUDIT_ACTIONS: readonly AuditAction[] = Object.values(AUDIT);

/** The actor of what the CLI does, and of what the worker decides on its own. */
export const CLI_ACTOR = 'cli';
export const SYSTEM_ACTOR = 'system';
