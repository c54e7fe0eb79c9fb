// Checks the credentials front-ends receive. Each kind of credential answers with who the caller
// is; what the caller may do is then the front-end's (and the grant's) business.
import { authenticateApiKey } from '../auth/apiKeys.js';
import type { Store } from '../store/types.js';
import type { ApiKeyRecord } from './types.js';

export class CredentialService {
  constructor(private readonly store: Store) {}

  /** The live API key a bearer token names, or null (malformed, unknown, revoked, wrong secret). */
  apiKey(token: string): Promise<ApiKeyRecord | null> {
    return authenticateApiKey(this.store, token);
  }
}
