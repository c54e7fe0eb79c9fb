import { children, decodeString, DerError, expectTag, oid, printableString, readNode, readOid, sequence, set, utf8String } from './der.js';
import { OID } from './oids.js';

export interface NameAttribute {
  type: string;
  value: string;
}

const SHORT: Record<string, string> = {
  [OID.commonName]: 'CN',
  [OID.countryName]: 'C',
  [OID.localityName]: 'L',
  [OID.stateOrProvinceName]: 'ST',
  [OID.organizationName]: 'O',
  [OID.organizationalUnitName]: 'OU',
  [OID.serialNumber]: 'serialNumber',
  [OID.emailAddress]: 'emailAddress',
};
const BY_SHORT: Record<string, string> = Object.fromEntries(Object.entries(SHORT).map(([k, v]) => [v, k]));

export interface ParsedName {
  attributes: NameAttribute[];
  commonName: string | null;
  /** RFC 4514-style, most significant first as written in the certificate (C=..,O=..,CN=..). */
  text: string;
}

export function parseName(buf: Uint8Array, nameNode: { tag: number; start: number; contentStart: number; end: number }): ParsedName {
  expectTag(nameNode, 0x30, 'Name');
  const attributes: NameAttribute[] = [];
  for (const rdn of children(buf, nameNode)) {
    expectTag(rdn, 0x31, 'RelativeDistinguishedName');
    for (const atv of children(buf, rdn)) {
      const [typeNode, valueNode] = children(buf, expectTag(atv, 0x30, 'AttributeTypeAndValue'), 2);
      const type = readOid(buf, typeNode, 'attribute type');
      if (!valueNode) throw new DerError('attribute without value');
      attributes.push({ type, value: decodeString(buf, valueNode) });
    }
  }
  const cn = attributes.filter((a) => a.type === OID.commonName).at(-1)?.value ?? null;
  const text = attributes.map((a) => `${SHORT[a.type] ?? a.type}=${escapeRdnValue(a.value)}`).join(', ');
  return { attributes, commonName: cn, text };
}

function escapeRdnValue(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, '\\$1');
}

/** Encodes a DN from "CN=x, O=y" style attributes (only the common types; values as UTF8String, C as PrintableString). */
export function encodeName(attributes: NameAttribute[]): Buffer {
  return sequence(
    ...attributes.map((a) => {
      const value = a.type === OID.countryName ? printableString(a.value) : utf8String(a.value);
      return set(sequence(oid(a.type), value));
    }),
  );
}

/** Parses a simple "CN=certgate Root, O=Example" string. Commas in values must be escaped with a backslash. */
export function parseDnString(dn: string): NameAttribute[] {
  const parts = dn.split(/(?<!\\),/).map((p) => p.trim()).filter(Boolean);
  return parts.map((p) => {
    const eq = p.indexOf('=');
    if (eq < 1) throw new Error(`bad DN component "${p}"`);
    const key = p.slice(0, eq).trim();
    const type = BY_SHORT[key] ?? (/^\d+(\.\d+)+$/.test(key) ? key : undefined);
    if (!type) throw new Error(`unknown DN attribute "${key}"`);
    return { type, value: p.slice(eq + 1).trim().replace(/\\(.)/g, '$1') };
  });
}

/** Parses a DER Name given as a standalone buffer. */
export function parseNameDer(der: Buffer): ParsedName {
  return parseName(der, readNode(der, 0));
}


