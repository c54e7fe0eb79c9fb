import { describe, expect, it } from 'vitest';
import { parseCsr } from '../src/pki/csr.js';
import { applyTemplate } from '../src/policy/applyTemplate.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { makeCsr, tempDir } from './helpers/openssl.js';

const dir = tempDir();
const csr = (subject: string, san: string[] = [], key: 'ec-p256' | 'rsa-2048' = 'ec-p256') => parseCsr(makeCsr(dir, { subject, san, key }).csrPem);

describe('product templates', () => {
  it('refuse TLS server products longer than 397 days, and a default above the maximum', () => {
    expect(() => parseProductTemplate({ maxValidityDays: 398 })).toThrow(/397/);
    expect(() => parseProductTemplate({ extendedKeyUsages: ['clientAuth'], maxValidityDays: 825 })).not.toThrow();
    expect(() => parseProductTemplate({ defaultValidityDays: 100, maxValidityDays: 50 })).toThrow(/maxValidityDays/);
  });
});

describe('applyTemplate', () => {
  const base = parseProductTemplate({ allowedDnsSuffixes: ['example.com'] });

  it('accepts names under an allowed suffix and adds the CN to the SAN', () => {
    const d = applyTemplate(base, csr('/CN=www.example.com', ['DNS:api.example.com']), null);
    expect(d.ok && d.profile.san.dns).toEqual(['api.example.com', 'www.example.com']);
    expect(d.ok && d.profile.validityDays).toBe(90);
    expect(d.ok && d.profile.keyUsage).toEqual(['digitalSignature']);
  });

  it('gives RSA leaves keyEncipherment too', () => {
    const d = applyTemplate(base, csr('/CN=www.example.com', [], 'rsa-2048'), null);
    expect(d.ok && d.profile.keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
  });

  it.each([
    ['/CN=evil.test', [], 'allowedDnsSuffixes'],
    ['/CN=x', ['DNS:*.example.com'], 'allowWildcards'],
    ['/CN=x', ['IP:10.0.0.1'], 'allowIpSans'],
    ['/CN=x', ['email:a@example.com'], 'allowEmailSans'],
    ['/CN=x', ['URI:https://example.com'], 'allowUriSans'],
    ['/CN=x', ['DNS:a*.example.com'], 'dnsNames'],
  ])('rejects %s %j under rule %s', (subject, san, rule) => {
    const d = applyTemplate(base, csr(subject, san), null);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.rule).toBe(rule);
  });

  it('rejects disallowed keys and too-long validity by rule', () => {
    const ecOnly = parseProductTemplate({ keyAlgorithms: ['ec-p256'] });
    const r1 = applyTemplate(ecOnly, csr('/CN=a.example.com', [], 'rsa-2048'), null);
    expect(!r1.ok && r1.rule).toBe('keyAlgorithms');
    const r2 = applyTemplate(base, csr('/CN=a.example.com'), 398);
    expect(!r2.ok && r2.rule).toBe('maxValidityDays');
  });

  it('allows wildcards and IPs when the product says so', () => {
    const open = parseProductTemplate({ allowWildcards: true, allowIpSans: true });
    const d = applyTemplate(open, csr('/CN=*.example.com', ['IP:2001:db8::5']), 7);
    expect(d.ok && d.profile.san).toMatchObject({ dns: ['*.example.com'], ip: ['2001:db8::5'] });
  });
});
