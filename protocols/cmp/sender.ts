// Who sent a request, from its protection (RFC 9483 §3.2, §4.1): a MAC with a `cmp` credential's
// secret (senderKID = the credential's name), or a signature by the first extraCert. An
// unprotected request is nobody. The key the MAC verified with is kept for the answer, which is
// protected with it (RFC 9483 §3.2: a MAC-protected request gets a MAC-protected response).
import { createHash, X509Certificate } from 'node:crypto';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CertificateRecord, CredentialRecord, ProductRecord } from '../../src/core/types.js';
import { MAX_INTERMEDIATES, presentedCertificateName, type CertificateLoginWording, type ClientCertificates } from '../../src/auth/certificateLogin.js';
import type { FailInfo, PkiMessage } from './messages.js';
import { isMacProtected, macVerifier, signatureVerifies } from './protect.js';
import type { MacKey } from './protection.js';
import { CmpRefusal } from './refusal.js';
import type { CmpSettings } from './settings.js';

export interface MacSender {
  kind: 'mac';
  /** The requester the core's requests carry. */
  principal: string;
  credential: CredentialRecord;
  /** The key of the secret the MAC verified with: the answer is protected with it. */
  macKey: MacKey;
  senderKID: Buffer;
}

export interface SignatureSender {
  kind: 'signature';
  principal: string;
  certificateDer: Buffer;
  x509: X509Certificate;
  /** The certificates the sender put after its own in extraCerts (unverified): a path to a trusted CA. */
  intermediates: X509Certificate[];
  /** How the audit trail names the certificate. */
  presented: string;
}

export type Sender = MacSender | SignatureSender;

/** The trail's name for who acted: the credential's id, or the certificate's principal. */
export const actorOf = (s: Sender): string => (s.kind === 'mac' ? s.credential.id : s.principal);

const principalOfCertificate = (der: Buffer): string => `cmp-cert:sha256:${createHash('sha256').update(der).digest('hex')}`;

/** How certificate-login refusals read in CMP: the certificate is the one that signed the message. */
export const CMP_LOGIN_WORDING: CertificateLoginWording = {
  certificate: 'the certificate that signed the message',
  login: 'a CMP signature login',
  aProtocolLogin: 'a CMP login',
  protocolLogins: 'CMP logins',
  settingsKey: 'cmp.trustedCas',
};

export interface SenderContext {
  core: Pick<CoreServices, 'credentials'>;
  certificates: ClientCertificates;
  product: ProductRecord;
  sourceIp: string | null;
}

/**
 * A credential that is not this product's or no longer stands is not authorized; anything else is
 * a MAC that does not check. (A throttled login is thrown as the core's rate_limited error, which
 * refusal.ts answers with systemUnavail.)
 */
function refusalFor(reason: string): FailInfo {
  return reason === 'productNotAllowed' || reason === 'ipNotAllowed' || reason === 'revoked' || reason === 'disabled' || reason === 'expired' ? 'notAuthorized' : 'badMessageCheck';
}

/**
 * Checks the protection and says who sent the message; does not decide what that sender may do
 * (see trustSigner). Throws CmpRefusal; a refused credential is in the audit trail already.
 */
export async function authenticateSender(message: PkiMessage, ctx: SenderContext): Promise<Sender> {
  const { header } = message;
  if (!header.protectionAlg || !message.protection) throw new CmpRefusal('badMessageCheck', 'the message is not protected: certgate answers MAC- or signature-protected requests only (RFC 9483 section 3.2)');
  const context = { protocol: 'cmp', sourceIp: ctx.sourceIp, productId: ctx.product.id };
  if (isMacProtected(header.protectionAlg)) {
    const kid = header.senderKID;
    if (!kid || kid.length === 0) throw new CmpRefusal('badMessageCheck', 'a MAC-protected message names its cmp credential in senderKID (RFC 9483 section 5.1.3.1)');
    const check = macVerifier(message);
    let matched: MacKey | null = null;
    const result = await ctx.core.credentials.authenticate(
      {
        type: 'cmp',
        reference: kid.toString('utf8'),
        macMatches: (secret: string) => {
          matched = check(secret);
          return matched !== null;
        },
      },
      context,
    );
    if (!result.ok) throw new CmpRefusal(refusalFor(result.reason), `cmp credential refused: ${result.message}`);
    if (matched === null) throw new CmpRefusal('badMessageCheck', 'the MAC does not verify');
    return { kind: 'mac', principal: `cmp:${result.credential.name}`, credential: result.credential, macKey: matched, senderKID: kid };
  }
  const first = message.extraCerts[0];
  if (!first) throw new CmpRefusal('badMessageCheck', 'a signature-protected message carries its signer certificate first in extraCerts (RFC 9483 section 3.3)');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(first);
  } catch {
    throw new CmpRefusal('badMessageCheck', 'the first extraCert is not a certificate certgate can read');
  }
  const presented = presentedCertificateName('cmp-signer-certificate', x509);
  if (!signatureVerifies(message, x509)) {
    const reason = "the message's signature does not verify with the key of the first extraCert";
    await ctx.core.credentials.recordRefusal(context, presented, reason, 'cmp-signature');
    throw new CmpRefusal('badMessageCheck', reason);
  }
  const intermediates: X509Certificate[] = [];
  for (const der of message.extraCerts.slice(1, 1 + MAX_INTERMEDIATES)) {
    try {
      intermediates.push(new X509Certificate(der));
    } catch {
      // An unreadable extra certificate is no path to anything; the signer's own was readable.
    }
  }
  return { kind: 'signature', principal: principalOfCertificate(first), certificateDer: first, x509, intermediates, presented };
}

export type Trust = { names: string[]; namesMayDiffer: boolean; certificate: CertificateRecord | null };

/**
 * Whether a signer certificate may act under the product: `holder` needs the certgate
 * certificate itself (current, unrevoked, of this product: kur, rr); `enroll` one that chains to
 * a CA the product trusts (cmp.trustedCas), which for a certgate certificate is again one of this
 * product's; `any` either. A refusal is audited and thrown.
 */
export async function trustSigner(sender: SignatureSender, ctx: SenderContext & { settings: CmpSettings }, need: 'holder' | 'enroll' | 'any'): Promise<Trust> {
  const refuse = async (failInfo: FailInfo, reason: string): Promise<never> => {
    await ctx.core.credentials.recordRefusal({ protocol: 'cmp', sourceIp: ctx.sourceIp, productId: ctx.product.id }, sender.presented, reason, 'cmp-signature');
    throw new CmpRefusal(failInfo, reason);
  };
  const holder = async (): Promise<Trust | string> => {
    const identified = await ctx.certificates.identify(sender.x509);
    if (!identified.ok) return identified.reason;
    if (identified.certificate.productId !== ctx.product.id) return `the signer certificate was issued under another product: a certgate certificate acts for its own product only (${ctx.product.name} here)`;
    return { names: [], namesMayDiffer: false, certificate: identified.certificate };
  };
  if (need !== 'enroll') {
    const found = await holder();
    if (typeof found !== 'string') return found;
    if (need === 'holder') return refuse(found.includes('another product') ? 'notAuthorized' : 'signerNotTrusted', found);
  }
  const trusted = await ctx.certificates.trusted(sender.x509, ctx.product.id, ctx.settings.trustedCas ?? [], sender.intermediates);
  if (!trusted.ok) return refuse(trusted.reason.includes('another product') ? 'notAuthorized' : 'signerNotTrusted', trusted.reason);
  return { names: trusted.names, namesMayDiffer: trusted.namesMayDiffer, certificate: null };
}
