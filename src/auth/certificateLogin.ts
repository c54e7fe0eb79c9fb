// Certificate logins, shared by the protocols whose clients authenticate with a certificate (EST's
// TLS client certificate, CMP's signature protection). A certificate is a login for new names only
// when it chains to a CA the product lists for bootstrap (`<protocol>.trustedCas`), and then only
// for its own names unless the entry says otherwise: a certificate certgate issued, for whatever
// names, is not a login merely because certgate issued it. Renewal takes a current, unrevoked
// certgate certificate of the same product.
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';

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
