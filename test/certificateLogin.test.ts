// The certificate logins EST and CMP share (src/auth/certificateLogin.ts), in the words of a
// protocol other than EST's, with the presented chain given as a CMP message's extraCerts give it:
// certgate certificates of the product (current, unrevoked, on record), a bootstrap CA reached
// through intermediates the client sent, a trusted CA outside its dates, and the names such a login
// may ask for. EST's own suites (est.auth, est.e2e) cover the same code through TLS.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClientCertificates, namesRefusal, trustedCaSchema, type CertificateLoginWording, type IssuedCertificateReads, type TrustedCa } from '../src/auth/certificateLogin.js';
import type { CaRecord, CertificateRecord } from '../src/core/types.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';

const CMP_WORDING: CertificateLoginWording = {
  certificate: 'the certificate that signed the message',
  login: 'a signature-protected request',
  aProtocolLogin: 'a CMP login',
  protocolLogins: 'CMP logins',
  settingsKey: 'cmp.trustedCas',
};

const dir = tempDir('certgate-certificate-login-');
const HOUR = 3_600_000;

interface Ca {
  pem: string;
  path: string;
  key: string;
}

function ca(name: string, days: number, issuer?: Ca): Ca {
  const ext = join(dir, 'ca.ext');
  writeFileSync(ext, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  const { csrPem, keyPath } = makeCsr(dir, { subject: `/CN=${name}` });
  const pem = issuer
    ? openssl(['x509', '-req', '-CA', issuer.path, '-CAkey', issuer.key, '-CAcreateserial', '-days', String(days), '-extfile', ext], csrPem)
    : openssl(['x509', '-req', '-signkey', keyPath, '-days', String(days), '-extfile', ext], csrPem);
  const path = join(dir, `${name.replace(/\W/g, '-')}.pem`);
  writeFileSync(path, pem);
  return { pem, path, key: keyPath };
}

function leaf(name: string, issuer: Ca, days = 10): X509Certificate {
  const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
  return new X509Certificate(openssl(['x509', '-req', '-CA', issuer.path, '-CAkey', issuer.key, '-CAcreateserial', '-days', String(days), '-copy_extensions', 'copy'], csrPem));
}

const entry = (ca: string | { ca: string; namesMayDiffer: boolean }): TrustedCa => trustedCaSchema.parse(ca);

describe('certificate logins, worded for CMP', () => {
  let ours: Ca;
  let maker: Ca;
  let makerLine: Ca;
  let shortLived: Ca;
  const records = new Map<string, CertificateRecord>();
  let certificates: ClientCertificates;

  /** A certificate certgate issued from `ours` under `productId`, on record. */
  const issued = (name: string, productId: string, revoked = false): X509Certificate => {
    const x509 = leaf(name, ours);
    const serialHex = readCertificateBasics(x509.raw).serialHex;
    records.set(serialHex, { caId: 'ca-ours', productId, serialNumber: serialHex, certificatePem: x509.toString(), revokedAt: revoked ? new Date() : null, commonName: name, sanDns: [name], sanIp: [], sanEmail: [], sanUri: [] } as unknown as CertificateRecord);
    return x509;
  };

  beforeAll(() => {
    ours = ca('certgate Issuing', 100);
    maker = ca('Maker Root', 100);
    makerLine = ca('Maker Line 2', 50, maker);
    shortLived = ca('Short Lived Root', 1);
    const reads: IssuedCertificateReads = {
      caList: async () => [{ id: 'ca-ours', name: 'certgate-issuing', certificatePem: ours.pem } as CaRecord],
      certificateBySerial: async (caId, serialHex) => (caId === 'ca-ours' ? records.get(serialHex) : undefined),
    };
    certificates = new ClientCertificates(reads, CMP_WORDING);
  });

  it('takes a certgate certificate of the product, current and unrevoked; refuses another product\'s, a revoked one and one not on record, in CMP\'s words', async () => {
    const trusted = [entry('certgate-issuing')];
    expect(await certificates.trusted(issued('device-1.test', 'p-1'), 'p-1', trusted)).toEqual({ ok: true, names: ['device-1.test'], namesMayDiffer: false });
    expect(await certificates.trusted(issued('device-2.test', 'p-2'), 'p-1', trusted)).toEqual({
      ok: false,
      reason: 'the certificate that signed the message was issued under another product: a certgate certificate is a CMP login for its own product only',
    });
    const revoked = issued('device-3.test', 'p-1', true);
    expect(await certificates.trusted(revoked, 'p-1', trusted)).toEqual({ ok: false, reason: 'the certificate that signed the message has been revoked' });
    expect(await certificates.identify(revoked)).toEqual({ ok: false, reason: 'the certificate that signed the message has been revoked' });
    expect(await certificates.identify(leaf('forged.test', ours))).toEqual({ ok: false, reason: 'certgate has no record of issuing the certificate that signed the message' });
    expect(await certificates.identify(leaf('stranger.test', maker))).toEqual({ ok: false, reason: 'the certificate that signed the message was not issued by a certgate CA' });
    // A certgate certificate is no login where the product trusts no CA: kur (identify) still takes it.
    const own = issued('device-4.test', 'p-1');
    expect(await certificates.trusted(own, 'p-1', [])).toEqual({ ok: false, reason: 'the certificate that signed the message was not issued by a CA this product trusts for CMP logins (cmp.trustedCas)' });
    expect(await certificates.identify(own)).toMatchObject({ ok: true, certificate: { productId: 'p-1' } });
  });

  it('reaches a bootstrap CA through the intermediates the client sent, and only through them', async () => {
    const device = leaf('meter-7.test', makerLine);
    const trusted = [entry({ ca: maker.pem, namesMayDiffer: true })];
    const intermediates = [new X509Certificate(makerLine.pem)];
    expect(await certificates.trusted(device, 'p-1', trusted, intermediates)).toEqual({ ok: true, names: ['meter-7.test'], namesMayDiffer: true });
    expect(await certificates.trusted(device, 'p-1', trusted)).toMatchObject({ ok: false, reason: expect.stringContaining('(cmp.trustedCas)') });
    // Other certificates sent along (here one that signed nothing of the chain) open no path.
    expect(await certificates.trusted(device, 'p-1', trusted, [leaf('not-a-ca.test', maker)])).toMatchObject({ ok: false });
  });

  it('refuses a certificate outside its dates, or under a trusted CA outside its own', async () => {
    const device = leaf('gate-1.test', shortLived, 10);
    const trusted = [entry(shortLived.pem)];
    expect(await certificates.trusted(device, 'p-1', trusted)).toMatchObject({ ok: true });
    const anchorExpired = Date.parse(new X509Certificate(shortLived.pem).validTo) + HOUR;
    expect(await certificates.trusted(device, 'p-1', trusted, [], anchorExpired)).toEqual({ ok: false, reason: 'the trusted CA that issued the certificate that signed the message is outside its validity' });
    expect(await certificates.trusted(device, 'p-1', trusted, [], Date.parse(device.validTo) + HOUR)).toEqual({ ok: false, reason: 'the certificate that signed the message has expired' });
    expect(await certificates.trusted(device, 'p-1', trusted, [], Date.parse(device.validFrom) - HOUR)).toEqual({ ok: false, reason: 'the certificate that signed the message is not valid yet' });
  });

  it('binds a login to its own names unless the entry lets them differ, and never to a wildcard it does not carry', () => {
    const bound = { names: ['meter-7.test'], namesMayDiffer: false, presented: 'x' };
    expect(namesRefusal(bound, ['meter-7.test'], CMP_WORDING.login)).toBeNull();
    expect(namesRefusal(bound, ['meter-7.test', 'other.test'], CMP_WORDING.login)).toBe('a signature-protected request asks for its own names only (meter-7.test); not authorized: other.test');
    expect(namesRefusal(bound, [], CMP_WORDING.login)).toBe('a signature-protected request asks for its own names only (meter-7.test); missing: meter-7.test');
    const free = { ...bound, namesMayDiffer: true };
    expect(namesRefusal(free, ['other.test'], CMP_WORDING.login)).toBeNull();
    expect(namesRefusal(free, ['*.other.test'], CMP_WORDING.login)).toBe('a signature-protected request may not ask for a wildcard it does not carry (*.other.test)');
  });
});
