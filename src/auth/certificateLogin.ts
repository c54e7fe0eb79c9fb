// Certificate logins, shared by the protocols whose clients authenticate with a certificate (EST's
// TLS client certificate, CMP's signature protection). A certificate is a login for new names only
// when it chains to a CA the product lists for bootstrap (`<protocol>.trustedCas`), and then only
// for its own names unless the entry says otherwise: a certificate certgate issued, for whatever
// names, is not a login merely because certgate issued it. Renewal takes a current, unrevoked
// certgate certificate of the same product. Each protocol reads the presented certificate from its
// own wire (EST from the TLS peer, CMP from the message's extraCerts) and passes its own wording.
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { TtlCache } from '../core/ttlCache.js';
import type { CaRecord, CertificateRecord } from '../core/types.js';
import { readCertificateBasics } from '../pki/certInfo.js';
import { isSignedBy, readForeignCertificate } from '../pki/foreignCertificate.js';
import { comparableNames, namesOfCertificate } from '../pki/names.js';

const PEM_CERTIFICATE = /^\s*-----BEGIN CERTIFICATE-----/;

/**
 * One CA whose certificates are logins for new names: a manufacturer or bootstrap CA's certificate
 * (PEM), or a certgate CA (id or name). A bare string is an entry that keeps names.
 */
export const trustedCaSchema = z
  .union([z.string().min(1).transform((ca) => ({ ca, namesMayDiffer: false })), z.object({ ca: z.string().min(1), namesMayDiffer: z.boolean().default(false) }).strict()])
  .transform((entry, ctx) => {
    if (!PEM_CERTIFICATE.test(entry.ca)) return { ...entry, anchor: null };
    let anchor: X509Certificate;
    try {
      anchor = new X509Certificate(entry.ca);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `not a PEM certificate (${(e as Error).message})` });
      return z.NEVER;
    }
    // A leaf listed by mistake would make every certificate it "issued" a login: only CAs anchor.
    if (!anchor.ca) {
      ctx.addIssue({ code: 'custom', message: `${anchor.subject.split('\n').join(', ')} is not a CA certificate (basicConstraints CA:TRUE)` });
      return z.NEVER;
    }
    return { ...entry, anchor };
  });

export type TrustedCa = z.output<typeof trustedCaSchema>;

/** What a certificate login may ask for: its own names, unless its trusted CA's entry lets them differ. */
export interface NameBinding {
  /** The presented certificate's names, in the form names are compared in (src/pki/names.ts). */
  names: string[];
  namesMayDiffer: boolean;
  /** How the audit trail names the presented certificate. */
  presented: string;
}

export type Identified = { ok: true; certificate: CertificateRecord } | { ok: false; reason: string };
export type Trusted = { ok: true; names: string[]; namesMayDiffer: boolean } | { ok: false; reason: string };

/**
 * How a protocol's refusals name things, so that each protocol's users read its own terms (EST's
 * say "the TLS client certificate", CMP's the certificate that signed the message).
 */
export interface CertificateLoginWording {
  /** The presented certificate: 'the TLS client certificate'. */
  certificate: string;
  /** A login with it: 'a TLS client certificate login'. */
  login: string;
  /** What a certgate certificate is for its own product only: 'an EST login'. */
  aProtocolLogin: string;
  /** What the product's trusted CAs vouch for: 'EST logins'. */
  protocolLogins: string;
  /** The product setting that lists them: 'est.trustedCas'. */
  settingsKey: string;
}

/** How many CA certificates a client may send above its own for a trust path (IDevID chains are short). */
export const MAX_INTERMEDIATES = 4;

const CA_CACHE_MS = 30_000;

/**
 * Why a certificate login may not ask for these names, or null. Equal sets unless the entry lets
 * them differ; even then a wildcard the certificate does not carry is refused, as wildcards
 * otherwise need dns-01. `login` names the login in the refusal ('a TLS client certificate login').
 */
export function namesRefusal(binding: NameBinding, requested: readonly string[], login: string): string | null {
  const own = new Set(binding.names);
  if (binding.namesMayDiffer) {
    const wild = requested.filter((n) => n.startsWith('*.') && !own.has(n));
    return wild.length ? `${login} may not ask for a wildcard it does not carry (${wild.join(', ')})` : null;
  }
  const extra = requested.filter((n) => !own.has(n));
  const missing = binding.names.filter((n) => !requested.includes(n));
  if (!extra.length && !missing.length) return null;
  return `${login} asks for its own names only (${binding.names.join(', ') || 'none'})${extra.length ? `; not authorized: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`;
}

/** How the audit trail names a presented certificate: `<kind>:<serial> (<subject>)`. */
export const presentedCertificateName = (kind: string, certificate: X509Certificate): string =>
  `${kind}:${certificate.serialNumber.toLowerCase()} (${certificate.subject.split('\n').join(', ')})`.slice(0, 200);

export const withinDates = (c: X509Certificate, now: number): boolean => now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo);

/**
 * Whether `anchor` vouches for `certificate`, directly or through CA certificates among
 * `intermediates` (each within its dates, each signature checked with node:crypto).
 */
export function anchoredIn(certificate: X509Certificate, anchor: X509Certificate, intermediates: readonly X509Certificate[], now: number): boolean {
  const unused = new Set(intermediates);
  let current = certificate;
  for (let depth = 0; depth <= MAX_INTERMEDIATES; depth++) {
    if (isSignedBy(current, anchor)) return true;
    const next = [...unused].find((c) => c.ca && withinDates(c, now) && isSignedBy(current, c));
    if (!next) return false;
    unused.delete(next);
    current = next;
  }
  return false;
}

/** The reads a certificate login needs: certgate's CAs, and what certgate issued. */
export interface IssuedCertificateReads {
  caList(): Promise<CaRecord[]>;
  certificateBySerial(caId: string, serialHex: string): Promise<CertificateRecord | undefined>;
}

/** Tells whether a presented certificate is one certgate issued and still stands behind, or one a product trusts. */
export class ClientCertificates {
  private readonly cas = new TtlCache<{ record: CaRecord; x509: X509Certificate }[]>(CA_CACHE_MS);

  constructor(
    private readonly queries: IssuedCertificateReads,
    private readonly wording: CertificateLoginWording,
  ) {}

  private caCertificates(): Promise<{ record: CaRecord; x509: X509Certificate }[]> {
    return this.cas.get('all', async () => (await this.queries.caList()).map((record) => ({ record, x509: new X509Certificate(record.certificatePem) })));
  }

  /**
   * Whether a presented certificate is a login for new names under these entries: signed by one
   * of them, or (for a CA given by its certificate) through the CA certificates the client sent
   * along; within its dates, as must the CA. A certgate CA's certificate must also be in certgate's
   * records, current and unrevoked (certgate issues from that CA directly), and of `productId`, the
   * product the login is for: a certificate certgate issued is a credential of its own product
   * only, so a product that trusts a CA both share never lets another product's in.
   */
  async trusted(peer: X509Certificate, productId: string, entries: readonly TrustedCa[], intermediates: readonly X509Certificate[] = [], now = Date.now()): Promise<Trusted> {
    const w = this.wording;
    if (now < Date.parse(peer.validFrom)) return { ok: false, reason: `${w.certificate} is not valid yet` };
    if (now > Date.parse(peer.validTo)) return { ok: false, reason: `${w.certificate} has expired` };
    const ours = await this.caCertificates();
    // A certificate one of certgate's CAs signed answers to certgate's records (revocation
    // included), whichever entry vouches for it: also where certgate's CA sits under a listed root.
    const ourIssuer = ours.find(({ x509 }) => isSignedBy(peer, x509));
    const ourCertificate = async (): Promise<Identified> => {
      const identified = await this.identify(peer, now);
      if (identified.ok && identified.certificate.productId !== productId) {
        return { ok: false, reason: `${w.certificate} was issued under another product: a certgate certificate is ${w.aProtocolLogin} for its own product only` };
      }
      return identified;
    };
    for (const entry of entries) {
      // A certgate CA listed by its PEM is still certgate's.
      const mine = entry.anchor ? ours.filter(({ x509 }) => x509.raw.equals((entry.anchor as X509Certificate).raw)) : ours.filter(({ record }) => record.id === entry.ca || record.name === entry.ca);
      if (mine.length) {
        if (!ourIssuer || !mine.includes(ourIssuer)) continue;
        const identified = await ourCertificate();
        if (!identified.ok) return identified;
        return { ok: true, names: namesOfCertificate(identified.certificate), namesMayDiffer: entry.namesMayDiffer };
      }
      const anchor = entry.anchor;
      if (!anchor || !anchoredIn(peer, anchor, intermediates, now)) continue;
      if (!withinDates(anchor, now)) return { ok: false, reason: `the trusted CA that issued ${w.certificate} is outside its validity` };
      if (ourIssuer) {
        const identified = await ourCertificate();
        if (!identified.ok) return identified;
      }
      let read;
      try {
        read = readForeignCertificate(peer.raw);
      } catch {
        return { ok: false, reason: `${w.certificate} cannot be read` };
      }
      return { ok: true, names: comparableNames(read.san, [read.commonName]), namesMayDiffer: entry.namesMayDiffer };
    }
    return { ok: false, reason: `${w.certificate} was not issued by a CA this product trusts for ${w.protocolLogins} (${w.settingsKey})` };
  }

  /** The certgate certificate presented: issued by a certgate CA, in certgate's records, current and unrevoked. */
  async identify(peer: X509Certificate, now = Date.now()): Promise<Identified> {
    const w = this.wording;
    const issuer = (await this.caCertificates()).find(({ x509 }) => peer.checkIssued(x509) && peer.verify(x509.publicKey));
    if (!issuer) return { ok: false, reason: `${w.certificate} was not issued by a certgate CA` };
    if (now < Date.parse(peer.validFrom)) return { ok: false, reason: `${w.certificate} is not valid yet` };
    if (now > Date.parse(peer.validTo)) return { ok: false, reason: `${w.certificate} has expired` };
    let serialHex: string;
    try {
      serialHex = readCertificateBasics(peer.raw).serialHex;
    } catch {
      return { ok: false, reason: `${w.certificate} cannot be read` };
    }
    const certificate = await this.queries.certificateBySerial(issuer.record.id, serialHex);
    if (!certificate || !new X509Certificate(certificate.certificatePem).raw.equals(peer.raw)) {
      return { ok: false, reason: `certgate has no record of issuing ${w.certificate}` };
    }
    if (certificate.revokedAt) return { ok: false, reason: `${w.certificate} has been revoked` };
    return { ok: true, certificate };
  }
}
