// A product's CMP settings (template.protocols.cmp): their defaults, what the product catalogue
// refuses when a product is made, and the clear error a product stored with settings that no
// longer pass gives the CMP front-end.
import { describe, expect, it } from 'vitest';
import { PROTOCOLS } from '../protocols/index.js';
import { cmpSettingsOf, cmpSettingsSchema } from '../protocols/cmp/settings.js';
import { checkProtocolSettings } from '../src/core/products.js';
import { ProductSettingsError } from '../src/core/productSettings.js';
import type { ProductRecord } from '../src/core/types.js';
import { openssl } from './helpers/openssl.js';

const product = (cmp: unknown): ProductRecord => ({ id: 'p-1', name: 'meters', caId: 'ca-1', template: { protocols: { cmp } } }) as unknown as ProductRecord;

describe('CMP product settings', () => {
  it('defaults to either protection, implicitConfirm allowed, no trusted CA and the deployment\'s checkAfter', () => {
    expect(cmpSettingsOf(product(undefined))).toEqual({ auth: 'either', implicitConfirm: true });
    expect(cmpSettingsOf(product({ auth: 'mac', implicitConfirm: false, checkAfterSeconds: 5 }))).toEqual({ auth: 'mac', implicitConfirm: false, checkAfterSeconds: 5 });
  });

  it('takes trusted CAs by certgate name or PEM, and refuses a certificate that is no CA', () => {
    const caPem = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=Maker Root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE']);
    const leafPem = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=device.test', '-days', '2', '-addext', 'basicConstraints=critical,CA:FALSE']);
    const settings = cmpSettingsSchema.parse({ trustedCas: ['certgate-issuing', { ca: caPem, namesMayDiffer: true }] });
    expect(settings.trustedCas?.map((t) => [t.ca === caPem ? 'pem' : t.ca, t.namesMayDiffer, t.anchor?.subject ?? null])).toEqual([
      ['certgate-issuing', false, null],
      ['pem', true, 'CN=Maker Root'],
    ]);
    expect(() => checkProtocolSettings({ cmp: { trustedCas: [leafPem] } }, PROTOCOLS)).toThrow(/protocols\.cmp\.trustedCas\.0: CN=device\.test is not a CA certificate/);
  });

  it('refuses, naming the key, what a product may not be made with', () => {
    expect(() => checkProtocolSettings({ cmp: { auth: 'password' } }, PROTOCOLS)).toThrow(/protocols\.cmp\.auth/);
    expect(() => checkProtocolSettings({ cmp: { checkAfterSeconds: 0 } }, PROTOCOLS)).toThrow(/protocols\.cmp\.checkAfterSeconds/);
    expect(() => checkProtocolSettings({ cmp: { implicitConfirms: true } }, PROTOCOLS)).toThrow(/protocols\.cmp: Unrecognized key/);
    expect(() => checkProtocolSettings({ cmp: { auth: 'signature', trustedCas: [] } }, PROTOCOLS)).not.toThrow();
  });

  it('says which product and key are wrong when a stored product no longer passes', () => {
    expect(() => cmpSettingsOf(product({ auth: 'password' }))).toThrow(ProductSettingsError);
    expect(() => cmpSettingsOf(product({ auth: 'password' }))).toThrow(/^product meters has invalid CMP settings \(cmp\.auth: /);
  });
});
