import { describe, expect, it } from 'vitest';
import { parseCsr } from '../src/pki/csr.js';
import { parseNameDer } from '../src/pki/name.js';
import { decideIssuance, precheckNames, type Decision } from '../src/policy/decide.js';
import { isDnsName } from '../src/pki/names.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import type { Constraint, ProductTemplate } from '../src/core/types.js';
import { makeCsr, tempDir } from './helpers/openssl.js';

const dir = tempDir();
const csr = (subject: string, san: string[] = [], key: 'ec-p256' | 'rsa-2048' | 'ec-p384' = 'ec-p256') => parseCsr(makeCsr(dir, { subject, san, key }).csrPem);
const decide = (template: ProductTemplate, c: ReturnType<typeof csr>, validityDays: number | null = null, constraints: Constraint[] = []): Decision =>
  decideIssuance({ template, csr: c, validityDays, constraints });
const ruleOf = (d: Decision): string | undefined => (d.ok ? undefined : d.rejection.rule);

describe('product templates', () => {
  it('refuse TLS server products longer than 397 days, and a default above the maximum', () => {
    expect(() => parseProductTemplate({ maxValidityDays: 398 })).toThrow(/397/);
    expect(() => parseProductTemplate({ extendedKeyUsages: ['clientAuth'], maxValidityDays: 825 })).not.toThrow();
    expect(() => parseProductTemplate({ defaultValidityDays: 100, maxValidityDays: 50 })).toThrow(/maxValidityDays/);
  });

  it('refuse the ocspSigning EKU: a leaf must never sign OCSP answers for its CA', () => {
    expect(() => parseProductTemplate({ extendedKeyUsages: ['serverAuth', 'ocspSigning'] })).toThrow(/ocspSigning/);
  });

  it('check subject attribute rules', () => {
    expect(() => parseProductTemplate({ subject: { attributes: { C: { fixed: 'Germany' } } } })).toThrow(/country/);
    expect(() => parseProductTemplate({ subject: { attributes: { CN: { fixed: 'x' } } } })).toThrow();
    expect(parseProductTemplate({}).subject).toEqual({ attributes: {}, unlisted: 'drop', organization: 'csr' });
    expect(parseProductTemplate({}).dcv).toEqual({ mode: 'none', reuseDays: 30, subdomains: false, dnsLabel: '_certgate-challenge' });
  });
});

describe('names', () => {
  it.each(['www.example.com', '*.example.com', 'xn--bcher-kva.example', 'a-b.c'])('%s is a DNS name', (n) => expect(isDnsName(n)).toBe(true));
  it.each(['intranet', 'localhost', 'evil.test.', 'bank_login.evil.test', 'anything at all', '1.2.3.4', '-a.example.com', 'a..b', '', 'Www.Example.com'])(
    '%j is not',
    (n) => expect(isDnsName(n)).toBe(false),
  );
});

describe('decideIssuance', () => {
  const base = parseProductTemplate({ allowedDnsSuffixes: ['example.com'] });

  it('puts the CN first in the SAN, makes it the subject\'s only attribute', () => {
    const d = decide(base, csr('/O=Evil Corp/CN=www.example.com', ['DNS:api.example.com']));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.profile.san.dns).toEqual(['www.example.com', 'api.example.com']);
    expect(parseNameDer(d.profile.subjectDer).text).toBe('CN=www.example.com');
    expect(d.profile.validityDays).toBe(90);
    expect(d.profile.keyUsage).toEqual(['digitalSignature']);
  });

  it('makes the first SAN the CN when the CSR has none, and leaves a too-long name out of the CN', () => {
    const long = `${'a'.repeat(60)}.example.com`;
    const d = decide(base, csr('/O=x', [`DNS:${long}`, 'DNS:b.example.com']));
    expect(d.ok && parseNameDer(d.profile.subjectDer).text).toBe('CN=b.example.com');
    const only = decide(base, csr('/O=x', [`DNS:${long}`]));
    expect(only.ok && only.profile.subjectDer.equals(Buffer.from([0x30, 0]))).toBe(true);
  });

  it('gives RSA leaves keyEncipherment too', () => {
    const d = decide(base, csr('/CN=www.example.com', [], 'rsa-2048'));
    expect(d.ok && d.profile.keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
  });

  it.each([
    ['/CN=evil.test', [], 'allowedDnsSuffixes'],
    ['/CN=intranet', [], 'commonName'],
    ['/CN=evil.test./O=x', [], 'commonName'],
    ['/CN=a.example.com/CN=evil.test', [], 'allowedDnsSuffixes'],
    ['/CN=a.example.com', ['DNS:*.example.com'], 'allowWildcards'],
    ['/CN=a.example.com', ['IP:10.0.0.1'], 'allowIpSans'],
    ['/CN=a.example.com', ['email:a@example.com'], 'allowEmailSans'],
    ['/CN=a.example.com', ['URI:https://example.com'], 'allowUriSans'],
    ['/CN=a.example.com', ['DNS:a*.example.com'], 'dnsNames'],
    ['/CN=a.example.com', ['DNS:login.example.com.'], 'dnsNames'],
    ['/O=nobody', [], 'subject'],
  ])('rejects %s %j under rule %s', (subject, san, rule) => {
    const d = decide(base, csr(subject, san));
    expect(d.ok).toBe(false);
    expect(ruleOf(d)).toBe(rule);
  });

  it('lists every refused name, one entry each', () => {
    const d = decide(base, csr('/CN=a.evil.test', ['DNS:b.evil.test', 'DNS:ok.example.com']));
    expect(!d.ok && d.rejection.sub?.map((s) => s.identifier)).toEqual(['a.evil.test', 'b.evil.test']);
    expect(!d.ok && d.rejection.code).toBe('rejectedIdentifier');
  });

  it('rejects disallowed keys and too-long validity by rule', () => {
    const ecOnly = parseProductTemplate({ keyAlgorithms: ['ec-p256'] });
    expect(ruleOf(decide(ecOnly, csr('/CN=a.example.com', [], 'rsa-2048')))).toBe('keyAlgorithms');
    expect(ruleOf(decide(ecOnly, csr('/CN=a.example.com', [], 'ec-p384')))).toBe('keyAlgorithms');
    expect(ruleOf(decide(base, csr('/CN=a.example.com'), 398))).toBe('maxValidityDays');
  });

  it('enforces the grant: exact names, names within, a bound key, a shorter validity', () => {
    const c = csr('/CN=a.example.com', ['DNS:b.example.com']);
    expect(decide(base, c, null, [{ kind: 'exactNames', names: ['a.example.com', 'b.example.com'] }]).ok).toBe(true);
    expect(ruleOf(decide(base, c, null, [{ kind: 'exactNames', names: ['a.example.com'] }]))).toBe('exactNames');
    expect(ruleOf(decide(base, c, null, [{ kind: 'exactNames', names: ['a.example.com', 'b.example.com', 'c.example.com'] }]))).toBe('exactNames');
    expect(decide(base, c, null, [{ kind: 'namesWithin', names: ['a.example.com', 'b.example.com', 'c.example.com'] }]).ok).toBe(true);
    expect(ruleOf(decide(base, c, null, [{ kind: 'namesWithin', names: ['a.example.com'] }]))).toBe('namesWithin');
    expect(ruleOf(decide(base, c, null, [{ kind: 'keyFingerprint', sha256: '00'.repeat(32) }]))).toBe('keyFingerprint');
    expect(ruleOf(decide(base, c, 30, [{ kind: 'maxValidityDays', days: 7 }]))).toMatch(/maxValidityDays/);
    const d = decide(base, c, null, [{ kind: 'maxValidityDays', days: 7 }]);
    expect(d.ok && d.profile.validityDays).toBe(7);
  });

  it('compares a grant\'s names with the request\'s as src/pki/names.ts does: email without case, IPs in any spelling, URIs exactly', () => {
    const open = parseProductTemplate({ allowIpSans: true, allowEmailSans: true, allowUriSans: true });
    const c = csr('/CN=a.example.com', ['IP:2001:db8::1', 'email:Ops@Example.com', 'URI:urn:Device:7']);
    // Each of these names the same four identities; before, the upper-case email, the long IP and
    // the URI (lower-cased on one side only) were taken for other names and refused.
    const same = ['A.Example.com', '2001:DB8:0:0:0:0:0:1', 'ops@example.com', 'urn:Device:7'];
    expect(decide(open, c, null, [{ kind: 'exactNames', names: same }]).ok).toBe(true);
    expect(decide(open, c, null, [{ kind: 'namesWithin', names: same }]).ok).toBe(true);
    expect(ruleOf(decide(open, c, null, [{ kind: 'exactNames', names: [...same.slice(0, 3), 'urn:device:7'] }]))).toBe('exactNames');
    expect(ruleOf(decide(open, c, null, [{ kind: 'namesWithin', names: same.slice(1) }]))).toBe('namesWithin');
  });

  it('allows wildcards and IPs when the product says so, and normalises IP spellings', () => {
    const open = parseProductTemplate({ allowWildcards: true, allowIpSans: true });
    const d = decide(open, csr('/CN=*.example.com', ['IP:2001:db8:0:0:0:0:0:5']), 7);
    expect(d.ok && d.profile.san).toMatchObject({ dns: ['*.example.com'], ip: ['2001:db8::5'] });
  });

  it('never issues ocspSigning, even from a template stored before the schema refused it', () => {
    const old = { ...base, extendedKeyUsages: ['serverAuth', 'ocspSigning'] } as ProductTemplate;
    const d = decide(old, csr('/CN=a.example.com'));
    expect(d.ok && d.profile.extendedKeyUsage).toEqual(['serverAuth']);
  });
});

describe('precheckNames', () => {
  const base = parseProductTemplate({ allowedDnsSuffixes: ['example.com'] });
  it('answers with the same rules the worker applies', () => {
    expect(precheckNames(base, ['a.example.com', '*.example.com'])?.rule).toBe('allowWildcards');
    expect(precheckNames(base, ['a.example.com'])).toBeNull();
    expect(precheckNames(base, ['evil.test', 'x y'])?.sub?.map((s) => s.identifier)).toEqual(['x y', 'evil.test']);
  });
});
