// An upstream ACME CA's settings as the CA record keeps them (cas.backend_config): where the
// upstream is, which account certgate holds there, how challenges are answered. No secret: the
// EAB HMAC key is used once at registration and never stored; a TSIG secret is named by the
// environment variable that holds it.
import { z } from 'zod';

const rfc2136 = z.object({
  kind: z.literal('rfc2136'),
  /** host:port of the primary that accepts dynamic updates. */
  server: z.string().min(1),
  zone: z.string().min(1),
  tsigKeyName: z.string().min(1),
  tsigAlgorithm: z.string().min(1),
  /** The environment variable holding the TSIG secret (base64). */
  tsigSecretEnv: z.string().min(1),
});
const hook = z.object({
  kind: z.literal('hook'),
  /** Called as `PATH add|remove NAME VALUE`. */
  path: z.string().min(1),
});

export const upstreamAcmeConfigSchema = z.object({
  directory: z.string().url(),
  accountUrl: z.string().url(),
  eabKid: z.string().nullable(),
  /** The ACME profile asked for in each order (draft-ietf-acme-profiles), when the upstream offers them. */
  profile: z.string().nullable(),
  challenge: z.discriminatedUnion('type', [
    z.object({ type: z.literal('http-01') }),
    z.object({ type: z.literal('dns-01'), publisher: z.discriminatedUnion('kind', [rfc2136, hook]) }),
  ]),
  /** PEM file of the CA the upstream's TLS certificate chains to (a private upstream); null: the system trust store. */
  caFile: z.string().nullable(),
  /**
   * The upstream's issuer certificates above the CA record's certificate (its root last), PEM.
   * Public; the chain the upstream returns with each certificate is the truth for that certificate.
   */
  issuerChainPem: z.array(z.string()),
});

export type UpstreamAcmeConfig = z.infer<typeof upstreamAcmeConfigSchema>;
export type DnsPublisherConfig = z.infer<typeof rfc2136> | z.infer<typeof hook>;

export function parseUpstreamConfig(caName: string, raw: unknown): UpstreamAcmeConfig {
  const parsed = upstreamAcmeConfigSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`CA "${caName}" has upstream ACME settings this version cannot read: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** The upstream's certificates above an upstream ACME CA's record certificate (none for other CAs). */
export function upstreamIssuerChain(ca: { name: string; backend: string; backendConfig: Record<string, unknown> | null }): string[] {
  return ca.backend === 'upstream-acme' ? parseUpstreamConfig(ca.name, ca.backendConfig).issuerChainPem : [];
}
