// Credential reads reused for a short while, and dropped in every process when one changes.
import type { CredentialRecord } from '../core/types.js';
import type { Broadcast } from '../queue/broadcast.js';
import type { Store } from '../store/types.js';

const CHANGED_CHANNEL = 'credentials';
const MAX_ENTRIES = 10_000;

export class CredentialCache {
  private readonly entries = new Map<string, { credential: CredentialRecord; at: number }>();

  /**
   * `lifetimeMs` bounds how late this process sees a revocation when the broadcast does not
   * reach it (no Redis: it never does).
   */
  constructor(
    private readonly store: Store,
    private readonly lifetimeMs: number,
    private readonly now: () => number,
    private readonly broadcast?: Broadcast,
  ) {
    broadcast?.subscribe(CHANGED_CHANNEL, (id) => this.entries.delete(id));
  }

  async get(id: string): Promise<CredentialRecord | undefined> {
    const hit = this.entries.get(id);
    if (hit && this.now() - hit.at < this.lifetimeMs) return hit.credential;
    const credential = await this.store.credentials.get(id);
    if (credential) {
      if (this.entries.size > MAX_ENTRIES) this.entries.clear();
      this.entries.set(id, { credential, at: this.now() });
    }
    return credential;
  }

  /** After a rotation or revocation: here at once, elsewhere through the broadcast. */
  async changed(id: string): Promise<void> {
    this.entries.delete(id);
    await this.broadcast?.publish(CHANGED_CHANNEL, id);
  }
}
