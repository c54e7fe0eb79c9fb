import { decodeLenientBase64 } from './base64.js';

export class PemError extends Error {
  override readonly name = 'PemError';
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** All PEM blocks in the text, in order, with their labels. */
export function pemBlocks(text: string): { label: string; der: Buffer }[] {
  const out: { label: string; der: Buffer }[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const der = decodeLenientBase64(m[2] as string, { padded: true });
    if (!der) throw new PemError(`invalid base64 in ${m[1]} block`);
    out.push({ label: m[1] as string, der });
  }
  return out;
}

/** The DER of the first block whose label is one of `labels`. */
export function fromPem(text: string, labels: readonly string[]): Buffer {
  const block = pemBlocks(text).find((b) => labels.includes(b.label));
  if (!block) throw new PemError(`no PEM block labelled ${labels.join(' or ')}`);
  if (block.der.length === 0) throw new PemError('empty PEM block');
  return block.der;
}
