// The pkcs11 CA backend: a CA that signs in this process through a key that stays in its token.
import type { CaRecord } from '../../core/types.js';
import { CA_CAPABILITIES } from '../../core/caCapabilities.js';
import { readCertificateBasics } from '../../pki/certInfo.js';
import { buildOcspResponseAsync, responderKeyHash, type OcspAnswerContent } from '../../pki/ocsp.js';
import { fromPem } from '../../pki/pem.js';
import { LocalCa } from '../localCa.js';
import type { CaBackendLoader, CaReadiness, StatusPointers } from '../types.js';
import { pkcs11ConfigOf, readPin } from './config.js';
import { isTokenGone, tokenName, tokenUnavailable } from './errors.js';
import { readTokenPublicKey, TokenKeyError, TokenSigner } from './keys.js';
import { tokenSessions } from './sessions.js';

/** A CA record's signer in its token (for signing a child CA's certificate as well as for loading it). */
export function tokenSignerOf(ca: CaRecord): TokenSigner {
  const config = pkcs11ConfigOf(ca);
  const sessions = tokenSessions({ module: config.module, token: config.token }, readPin(config.pin));
  return new TokenSigner(sessions, { label: config.keyLabel, idHex: config.keyId }, ca.keyAlgorithm);
}

export class Pkcs11Ca extends LocalCa {
  private readonly certificateDer: Buffer;
  private readonly keyHash: Buffer;

  constructor(
    ca: CaRecord,
    chainPem: readonly string[],
    private readonly tokenSigner: TokenSigner,
    private readonly tokenLabel: string,
    pointers: StatusPointers | null,
  ) {
    super(ca.id, ca.certificatePem, chainPem, tokenSigner, pointers, CA_CAPABILITIES.pkcs11);
    this.certificateDer = fromPem(ca.certificatePem, ['CERTIFICATE']);
    this.keyHash = responderKeyHash(this.certificateDer);
  }

  async readiness(): Promise<CaReadiness | null> {
    try {
      await this.tokenSigner.probe();
      return null;
    } catch (e) {
      return { dependency: tokenName(this.tokenLabel), problem: e instanceof Error ? e.message : String(e) };
    }
  }

  /**
   * An OCSP answer signed by the CA key itself (RFC 6960 §4.2.2.2 allows the CA as responder): a
   * token-kept CA has no delegated signer, whose own key would have to be made and rotated in the
   * token every few days.
   */
  signOcspResponse(content: OcspAnswerContent): Promise<Buffer> {
    return buildOcspResponseAsync({ ...content, responderKeyHash: this.keyHash, signerCertDer: this.certificateDer }, this.tokenSigner);
  }
}

export const loadPkcs11Ca: CaBackendLoader = async (ca, { chainPem, pointers }) => {
  const config = pkcs11ConfigOf(ca);
  const signer = tokenSignerOf(ca);
  const sessions = tokenSessions({ module: config.module, token: config.token }, readPin(config.pin));
  // A key that is not the certificate's would sign what no relying party accepts: refuse to load.
  let spkiDer: Buffer;
  try {
    ({ spkiDer } = await readTokenPublicKey(sessions, { label: config.keyLabel, idHex: config.keyId }));
  } catch (e) {
    if (e instanceof TokenKeyError || isTokenGone(e)) throw tokenUnavailable(config.token, e);
    throw e;
  }
  if (!spkiDer.equals(readCertificateBasics(fromPem(ca.certificatePem, ['CERTIFICATE'])).spkiDer)) {
    throw new Error(`the key labelled "${config.keyLabel}" in ${tokenName(config.token)} is not the key of CA "${ca.name}"`);
  }
  return new Pkcs11Ca(ca, chainPem, signer, config.token, pointers);
};
