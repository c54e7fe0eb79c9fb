import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../src/pki/csr.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { bytesToIp } from '../src/pki/ip.js';
import { canonicalIp, comparableName, comparableNames, namesOfCertificate, namesOfCsr } from '../src/pki/names.js';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

describe('the names of a certificate or CSR', () => {
  it('counts a CN only when it is a host name, an IP address or an email address', () => {
    expect(namesOfCsr(parseCsr(buildCsr(privateKey, 'CN=Device.Example.COM', { dns: ['other.example.com'] })))).toEqual(['device.example.com', 'other.example.com']);
    expect(namesOfCsr(parseCsr(buildCsr(privateKey, 'CN=Router 7', { dns: ['router7.example.com'] })))).toEqual(['router7.example.com']);
    expect(namesOfCsr(parseCsr(buildCsr(privateKey, 'CN=2001:DB8:0:0::1', {})))).toEqual(['2001:db8::1']);
  });

  it('compares DNS names and email addresses without case, IPs in one form, URIs as they are', () => {
    const names = comparableNames({ dns: ['WWW.Example.com'], ip: ['2001:db8::0:1', '10.0.0.1'], email: ['Ops@Example.com'], uri: ['urn:Device:7'] });
    expect(names).toEqual(['www.example.com', '2001:db8::1', '10.0.0.1', 'ops@example.com', 'urn:Device:7']);
  });

  it('lists each name once, a CN that repeats a SAN entry too', () => {
    const record = { commonName: 'a.example.com', sanDns: ['a.example.com', 'A.example.com'], sanIp: [], sanEmail: [], sanUri: [] };
    expect(namesOfCertificate(record)).toEqual(['a.example.com']);
  });

  it('reads a free-text name (a challenge subject, a constraint) as the SAN is read', () => {
    expect(comparableName('Device.Example.com')).toBe('device.example.com');
    expect(comparableName('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(comparableName('urn:Device:7')).toBe('urn:Device:7');
  });

  it('gives every spelling of an IP address the same form (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (bytes, upper) => {
        const canonical = bytesToIp(Buffer.from(bytes));
        const longhand = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] as number) * 256 + (bytes[2 * i + 1] as number)).toString(16).padStart(4, '0')).join(':');
        const spelled = upper ? longhand.toUpperCase() : longhand;
        expect(canonicalIp(spelled)).toBe(canonical);
        expect(comparableName(spelled)).toBe(canonical);
        expect(comparableNames({ dns: [], ip: [spelled], email: [], uri: [] })).toEqual([canonical]);
      }),
    );
  });

  it('is idempotent: names already compared compare the same (property)', () => {
    const label = fc.stringMatching(/^[a-zA-Z0-9]{1,10}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 2, maxLength: 4 }), (labels) => {
        const name = labels.join('.') + '.example';
        const once = comparableName(name);
        expect(comparableName(once)).toBe(once);
        expect(once).toBe(name.toLowerCase());
      }),
    );
  });
});
