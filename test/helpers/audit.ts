// An audit entry for store writes a test makes directly (the services build their own).
import type { AuditEntryInput } from '../../src/core/types.js';

export const testAudit = (action = 'test', target = 'x'): AuditEntryInput => ({
  actor: 'test',
  protocol: 'cli',
  sourceIp: null,
  action,
  target,
  outcome: 'success',
});
