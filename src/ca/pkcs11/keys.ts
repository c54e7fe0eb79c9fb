// A CA key in a PKCS#11 token: generated there (sensitive, never extractable) or found by its
// label, its public half read into an SPKI, and signatures made by the token. ECDSA keys sign a
// digest computed here (CKM_ECDSA; the token answers r||s, X.509 wants the DER Ecdsa-Sig-Value);
// RSA keys sign the whole TBS with the hash-and-sign mechanism that matches the algorithm table
// (signatureAlgorithmFor), so the DigestInfo is the token's to build.
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { KeyAlgorithm } from '../../core/types.js';
import { signatureAlgorithmFor, type DelegatedSigner } from '../../pki/certificate.js';
import { oid, sequence, unsignedInteger } from '../../pki/der.js';
import { keyGenSpec } from '../../pki/keys.js';
import { TokenAbsentError } from './errors.js';
import type { SessionUse, TokenSessions } from './sessions.js';

type Handle = Buffer;

const CURVES: Record<string, { oid: string; jwk: 'P-256' | 'P-384'; size: number; algorithm: KeyAlgorithm }> = {
  prime256v1: { oid: '1.2.840.10045.3.1.7', jwk: 'P-256', size: 32, algorithm: 'ec-p256' },
  secp384r1: { oid: '1.3.132.0.34', jwk: 'P-384', size: 48, algorithm: 'ec-p384' },
};

const RSA_MECHANISMS: Record<string, number> = {
  sha256: pkcs11js.CKM_SHA256_RSA_PKCS,
  sha384: pkcs11js.CKM_SHA384_RSA_PKCS,
  sha512: pkcs11js.CKM_SHA512_RSA_PKCS,
};

/** Where a key is in its token: its CKA_LABEL and CKA_ID (hex). */
export interface TokenKeyRef {
  label: string;
  idHex: string;
}

export class TokenKeyError extends Error {
  override readonly name = 'TokenKeyError';
}

function findOne(use: SessionUse, template: pkcs11js.Template): Handle[] {
  const { lib, session } = use;
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/**
 * Makes a key pair in the token that never leaves it. Returns its reference. `decrypt`: the key
 * also unwraps RSA key transport (the SCEP RA's), which a CA key never does.
 */
export async function generateTokenKey(sessions: TokenSessions, label: string, algorithm: KeyAlgorithm, { decrypt = false } = {}): Promise<TokenKeyRef> {
  const id = randomBytes(16);
  const spec = keyGenSpec(algorithm);
  const common = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
  const priv = [
    ...common,
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    // Decryption only: never an unwrap that would leave another key in the token.
    ...(decrypt ? [{ type: pkcs11js.CKA_DECRYPT, value: true }, { type: pkcs11js.CKA_UNWRAP, value: false }] : []),
  ];
  let mechanism: number;
  let pub: pkcs11js.Template;
  if (spec.type === 'ec') {
    const curve = CURVES[spec.namedCurve as string];
    if (!curve) throw new TokenKeyError(`no PKCS#11 key generation for ${algorithm}`);
    mechanism = pkcs11js.CKM_EC_KEY_PAIR_GEN;
    pub = [...common, { type: pkcs11js.CKA_VERIFY, value: true }, { type: pkcs11js.CKA_EC_PARAMS, value: oid(curve.oid) }];
  } else {
    mechanism = pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN;
    pub = [
      ...common,
      { type: pkcs11js.CKA_VERIFY, value: true },
      ...(decrypt ? [{ type: pkcs11js.CKA_ENCRYPT, value: true }, { type: pkcs11js.CKA_WRAP, value: false }] : []),
      { type: pkcs11js.CKA_MODULUS_BITS, value: spec.modulusLength as number },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    ];
  }
  await sessions.use(({ lib, session }) => lib.C_GenerateKeyPairAsync(session, { mechanism }, pub, priv));
  return { label, idHex: id.toString('hex') };
}

/** Whether the token holds any private key labelled `label`. */
export function hasTokenKey(sessions: TokenSessions, label: string): Promise<boolean> {
  return sessions.use((use) => findOne(use, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: label }]).length > 0);
}

/** The key labelled `label` in the token: there must be exactly one private key by that label. */
export async function findTokenKey(sessions: TokenSessions, label: string): Promise<TokenKeyRef> {
  return sessions.use((use) => {
    const found = findOne(use, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    if (found.length === 0) throw new TokenKeyError(`the token has no private key labelled "${label}"`);
    if (found.length > 1) throw new TokenKeyError(`the token has more than one private key labelled "${label}": give each its own label`);
    const attrs = use.lib.C_GetAttributeValue(use.session, found[0] as Handle, [{ type: pkcs11js.CKA_ID }, { type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_SIGN }]);
    const [idAttr, sensitive, extractable, sign] = attrs.map((a) => a.value as Buffer);
    if (!idAttr?.length) throw new TokenKeyError(`the key labelled "${label}" has no CKA_ID, by which certgate finds its public half: give it one`);
    // The database holds only a reference on the promise that the key cannot leave its token.
    if (sensitive?.[0] !== 1 || extractable?.[0] !== 0) throw new TokenKeyError(`the key labelled "${label}" can leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true): certgate uses only keys that cannot`);
    if (sign?.[0] !== 1) throw new TokenKeyError(`the key labelled "${label}" may not sign (CKA_SIGN false)`);
    return { label, idHex: idAttr.toString('hex') };
  });
}

interface PublicHalf {
  spkiDer: Buffer;
  algorithm: KeyAlgorithm;
}

/** The public key with the key's CKA_ID, as an SPKI, and the key type it is. */
export async function readTokenPublicKey(sessions: TokenSessions, key: TokenKeyRef): Promise<PublicHalf> {
  return sessions.use((use) => {
    const [pub] = findOne(use, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(key.idHex, 'hex') },
    ]);
    if (!pub) throw new TokenKeyError(`the token has no public key with the id of the key labelled "${key.label}"`);
    const [type] = use.lib.C_GetAttributeValue(use.session, pub, [{ type: pkcs11js.CKA_KEY_TYPE }]);
    // CK_ULONG, in the platform's byte order and width; the key types are small numbers.
    const keyType = (type?.value as Buffer)[0];
    if (keyType === pkcs11js.CKK_EC) {
      const [params, point] = use.lib.C_GetAttributeValue(use.session, pub, [{ type: pkcs11js.CKA_EC_PARAMS }, { type: pkcs11js.CKA_EC_POINT }]).map((a) => a.value as Buffer);
      const curve = Object.values(CURVES).find((c) => oid(c.oid).equals(params as Buffer));
      if (!curve) throw new TokenKeyError(`the key labelled "${key.label}" is on a curve certgate does not sign with (P-256 and P-384 only)`);
      const raw = uncompressedPoint(point as Buffer, curve.size);
      const jwk = { kty: 'EC', crv: curve.jwk, x: raw.subarray(1, 1 + curve.size).toString('base64url'), y: raw.subarray(1 + curve.size).toString('base64url') };
      return { spkiDer: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }), algorithm: curve.algorithm };
    }
    if (keyType === pkcs11js.CKK_RSA) {
      const [n, e] = use.lib.C_GetAttributeValue(use.session, pub, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]).map((a) => a.value as Buffer);
      const bits = (n as Buffer).length * 8;
      const algorithm = ({ 2048: 'rsa-2048', 3072: 'rsa-3072', 4096: 'rsa-4096' } as Record<number, KeyAlgorithm>)[bits];
      if (!algorithm) throw new TokenKeyError(`the key labelled "${key.label}" is RSA-${bits}: certgate signs with RSA 2048, 3072 or 4096`);
      const jwk = { kty: 'RSA', n: (n as Buffer).toString('base64url'), e: (e as Buffer).toString('base64url') };
      return { spkiDer: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }), algorithm };
    }
    throw new TokenKeyError(`the key labelled "${key.label}" is neither EC nor RSA`);
  });
}

/** CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40); some modules give it bare. */
function uncompressedPoint(value: Buffer, size: number): Buffer {
  const length = 1 + 2 * size;
  if (value.length === length && value[0] === 0x04) return value;
  if (value[0] === 0x04 && value.length > length && value[value.length - length] === 0x04) return value.subarray(value.length - length);
  throw new TokenKeyError('the token gave an EC point certgate cannot read (only uncompressed points are)');
}

/** Signs with the private key of `key`, in the token. The handle is found once per module generation. */
export class TokenSigner implements DelegatedSigner {
  private handle: { value: Handle; generation: number } | null = null;
  private readonly curveSize: number;

  constructor(
    private readonly sessions: TokenSessions,
    private readonly ref: TokenKeyRef,
    readonly algorithm: KeyAlgorithm,
  ) {
    this.curveSize = algorithm === 'ec-p384' ? 48 : 32;
  }

  sign(tbs: Buffer): Promise<Buffer> {
    const { hash } = signatureAlgorithmFor(this.algorithm);
    const ec = this.algorithm.startsWith('ec-');
    // Hashed before a session is taken: a session is held only while the token works.
    const input = ec ? createHash(hash).update(tbs).digest() : tbs;
    return this.sessions.use((use) =>
      this.signWith(use, input, ec ? null : hash).catch((e: unknown) => {
        // The handle may be what failed (the token's objects went away): found again next time.
        this.handle = null;
        throw e;
      }),
    );
  }

  /** `rsaHash` null: ECDSA over the digest in `input`. */
  private async signWith(use: SessionUse, input: Buffer, rsaHash: string | null): Promise<Buffer> {
    const handle = this.privateKey(use);
    if (rsaHash === null) {
      use.lib.C_SignInit(use.session, { mechanism: pkcs11js.CKM_ECDSA }, handle);
      const rs = await use.lib.C_SignAsync(use.session, input, Buffer.alloc(2 * this.curveSize));
      return sequence(unsignedInteger(rs.subarray(0, rs.length / 2)), unsignedInteger(rs.subarray(rs.length / 2)));
    }
    const mechanism = RSA_MECHANISMS[rsaHash];
    if (mechanism === undefined) throw new TokenKeyError(`no PKCS#11 RSA mechanism for ${rsaHash}`);
    use.lib.C_SignInit(use.session, { mechanism }, handle);
    return use.lib.C_SignAsync(use.session, input, Buffer.alloc(512));
  }

  /** Asks the token for the key's attributes: fails as a signature would when the token is gone. */
  async probe(): Promise<void> {
    await this.sessions.use((use) => {
      use.lib.C_GetAttributeValue(use.session, this.privateKey(use), [{ type: pkcs11js.CKA_SIGN }]);
    });
  }

  private privateKey(use: SessionUse): Handle {
    if (this.handle?.generation === use.generation) return this.handle.value;
    const found = privateKeyOf(use, this.ref);
    this.handle = { value: found, generation: use.generation };
    return found;
  }
}

/** The private key with `ref`'s CKA_ID, in the session's token. */
export function privateKeyOf(use: SessionUse, ref: TokenKeyRef): Handle {
  const [found] = findOne(use, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_ID, value: Buffer.from(ref.idHex, 'hex') },
  ]);
  // Gone from a token that is present: the token was replaced or wiped; reported like an absent one.
  if (!found) throw new TokenAbsentError(`the key labelled "${ref.label}" (id ${ref.idHex}) is not in the token`);
  return found;
}
