// PKCS#11 modules and the sessions to their tokens. A module is loaded and initialized once per
// path in a process (Cryptoki allows one C_Initialize per application). Each token has a pool of
// logged-in sessions, one operation at a time each (a session runs one operation at a time).
// A session that fails with a token or session error is dropped and the operation tried once more
// on a fresh one (the module re-initialized first when the token is no longer in any slot, which is
// how a module sees a token that came back); a second failure is reported as the token being
// unavailable.
import pkcs11js from 'pkcs11js';
import { isTokenGone, loginRefusal, TokenAbsentError, tokenUnavailable } from './errors.js';

type Handle = Buffer;

/** Idle sessions kept per token; more are opened under load and closed when returned beyond it. */
const IDLE_SESSIONS = 8;
const REINITIALIZE_EVERY_MS = 1000;
/**
 * pkcs11js's async calls run on libuv's thread pool, so several sessions are in the module at once:
 * it must lock (without the flag SoftHSM2 is not thread-safe and crashed the process under load).
 */
const INITIALIZE = { flags: pkcs11js.CKF_OS_LOCKING_OK };

class Pkcs11Module {
  readonly lib: pkcs11js.PKCS11;
  /** Bumped by reinitialize(): sessions and handles of an older generation are dead. */
  generation = 0;
  /** Operations under way; reinitialize() waits for none (C_Finalize under a running C_Sign is undefined). */
  private running = 0;
  private drained: (() => void)[] = [];
  private reinitializing: Promise<void> | null = null;
  private reinitializedAt = 0;

  constructor(readonly path: string) {
    this.lib = new pkcs11js.PKCS11();
    this.lib.load(path);
    this.lib.C_Initialize(INITIALIZE);
  }

  async enter(): Promise<void> {
    while (this.reinitializing) await this.reinitializing;
    this.running++;
  }

  leave(): void {
    if (--this.running === 0) for (const wake of this.drained.splice(0)) wake();
  }

  /**
   * C_Finalize and C_Initialize again, once nothing runs: a module rescans its slots only then.
   * Once per generation seen (concurrent callers share one), and at most once a second, so that a
   * token gone for long does not have every request re-initialize the module.
   */
  reinitialize(seenGeneration: number): Promise<void> {
    if (this.generation !== seenGeneration || Date.now() - this.reinitializedAt < REINITIALIZE_EVERY_MS) return this.reinitializing ?? Promise.resolve();
    this.reinitializing ??= (async () => {
      if (this.running > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
      try {
        this.lib.C_Finalize();
      } catch {
        // Already finalized, or the module lost track: initializing again is what matters.
      }
      this.lib.C_Initialize(INITIALIZE);
      this.generation++;
      this.reinitializedAt = Date.now();
    })().finally(() => {
      this.reinitializing = null;
    });
    return this.reinitializing;
  }

  hasToken(tokenLabel: string): boolean {
    try {
      this.slotOf(tokenLabel);
      return true;
    } catch {
      return false;
    }
  }

  slotOf(tokenLabel: string): Handle {
    for (const slot of this.lib.C_GetSlotList(true)) {
      // Labels are blank-padded to 32 bytes.
      if (this.lib.C_GetTokenInfo(slot).label.trimEnd() === tokenLabel) return slot;
    }
    throw new TokenAbsentError(`no token labelled "${tokenLabel}" is present in ${this.path}`);
  }
}

const modules = new Map<string, Pkcs11Module>();

function moduleOf(path: string): Pkcs11Module {
  let m = modules.get(path);
  if (!m) {
    m = new Pkcs11Module(path);
    modules.set(path, m);
  }
  return m;
}

/** What an operation is given: the library and an open, logged-in session of this token. */
export interface SessionUse {
  lib: pkcs11js.PKCS11;
  session: Handle;
  /** Bumped when the module was re-initialized: handles found under an older one are stale. */
  generation: number;
}

interface Session {
  handle: Handle;
  generation: number;
}

export interface TokenRef {
  module: string;
  token: string;
}

export class TokenSessions {
  private readonly idle: Session[] = [];
  private readonly module: Pkcs11Module;

  constructor(
    readonly ref: TokenRef,
    private readonly pin: string,
  ) {
    this.module = moduleOf(ref.module);
  }

  /** Runs `op` on a pooled session, re-opening once after a token error (see the file comment). */
  async use<T>(op: (use: SessionUse) => Promise<T> | T): Promise<T> {
    const seen = this.module.generation;
    try {
      return await this.attempt(op);
    } catch (first) {
      if (!isTokenGone(first)) throw first;
      this.dropIdle();
      try {
        // A token (or its key) that left and came back is seen by the module only after C_Initialize again.
        if (first instanceof TokenAbsentError || !this.module.hasToken(this.ref.token)) await this.module.reinitialize(seen);
        return await this.attempt(op);
      } catch (second) {
        if (isTokenGone(second)) throw tokenUnavailable(this.ref.token, second);
        throw second;
      }
    }
  }

  /** Opens and logs in one session now: a wrong PIN or an absent token is found at once. */
  async check(): Promise<void> {
    await this.use(() => undefined);
  }

  private async attempt<T>(op: (use: SessionUse) => Promise<T> | T): Promise<T> {
    await this.module.enter();
    let session: Session | undefined;
    try {
      session = this.take() ?? this.open();
      const result = await op({ lib: this.module.lib, session: session.handle, generation: session.generation });
      this.give(session);
      session = undefined;
      return result;
    } catch (e) {
      // A failed operation may leave the session mid-operation or dead: never pooled again.
      if (session) this.close(session);
      throw e;
    } finally {
      this.module.leave();
    }
  }

  private take(): Session | undefined {
    for (let s = this.idle.pop(); s; s = this.idle.pop()) {
      if (s.generation === this.module.generation) return s;
    }
    return undefined;
  }

  private open(): Session {
    const { lib } = this.module;
    const slot = this.module.slotOf(this.ref.token);
    const handle = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lib.C_Login(handle, pkcs11js.CKU_USER, this.pin);
    } catch (e) {
      // Login state is per token, not per session: the pool's other sessions logged in already.
      if ((e as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
        this.close({ handle, generation: this.module.generation });
        throw loginRefusal(this.ref.token, e) ?? e;
      }
    }
    return { handle, generation: this.module.generation };
  }

  private give(session: Session): void {
    if (this.idle.length < IDLE_SESSIONS && session.generation === this.module.generation) this.idle.push(session);
    else this.close(session);
  }

  private dropIdle(): void {
    for (const s of this.idle.splice(0)) this.close(s);
  }

  private close(session: Session): void {
    if (session.generation !== this.module.generation) return;
    try {
      this.module.lib.C_CloseSession(session.handle);
    } catch {
      // Already gone with its token.
    }
  }
}

const pools = new Map<string, TokenSessions>();

/** One pool per module, token and PIN in a process (a pool opened with a wrong PIN is not reused by the right one). */
export function tokenSessions(ref: TokenRef, pin: string): TokenSessions {
  const key = `${ref.module}\n${ref.token}\n${pin}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new TokenSessions(ref, pin);
    pools.set(key, pool);
  }
  return pool;
}
