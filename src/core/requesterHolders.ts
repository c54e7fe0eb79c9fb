// Whose domain and organization records cover a requester: its credential's holders (the
// credential itself, its owner user and group, the deployment's), and the requester itself.
import type { HolderSource } from './domainRegistry.js';
import { credentialHolders, EVERYONE, type CredentialRecord, type Holder } from './types.js';

export async function requesterHolders(source: HolderSource, credentialById: (id: string) => Promise<CredentialRecord | undefined>): Promise<Holder[]> {
  // A SCEP one-time challenge leaves `scep-challenge:<id>`, no credential: nothing to look up.
  const credential = source.credentialId === null ? undefined : await credentialById(source.credentialId);
  const holders = credential ? credentialHolders(credential) : [EVERYONE];
  return [...new Set([...holders, `requester:${source.requester}`])];
}
