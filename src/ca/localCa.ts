import { isDelegated, randomSerial, signCertificate, signCertificateAsync, type AnySigner, type CertificateProfile } from '../pki/certificate.js';
import { readCertificateBasics } from '../pki/certInfo.js';
import { fromPem, toPem } from '../pki/pem.js';
import { buildCrl, buildCrlAsync } from '../pki/crl.js';
import { CA_CAPABILITIES, type CaCapabilities } from '../core/caCapabilities.js';
import type { CaBackend, CrlRequest, IssuedCertificate, IssueRequest, StatusPointers } from './types.js';

/**
 * A CA that signs in this process: with a key it holds (decrypted once, when the CA is loaded), or
 * through a delegated signer whose key stays in a token (the pkcs11 backend).
 */
export class LocalCa implements CaBackend {
  readonly notAfter: Date;
  private readonly subjectDer: Buffer;
  private readonly subjectKeyId: Buffer | null;

  constructor(
    readonly caId: string,
    readonly certificatePem: string,
    readonly chainPem: readonly string[],
    private readonly signer: AnySigner,
    private readonly pointers: StatusPointers | null = null,
    readonly capabilities: Readonly<CaCapabilities> = CA_CAPABILITIES.local,
  ) {
    const basics = readCertificateBasics(fromPem(certificatePem, ['CERTIFICATE']));
    this.subjectDer = basics.subjectDer;
    this.subjectKeyId = basics.subjectKeyId;
    this.notAfter = basics.notAfter;
  }

  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    // A certificate never outlives its issuer (RFC 5280 path validation would reject it anyway).
    const notAfter = req.notAfter > this.notAfter ? this.notAfter : req.notAfter;
    const serial = req.serial ?? randomSerial();
    const profile: CertificateProfile = {
      serial,
      issuerDer: this.subjectDer,
      subjectDer: req.subjectDer,
      spkiDer: req.spkiDer,
      notBefore: req.notBefore,
      notAfter,
      keyUsage: req.keyUsage,
      extendedKeyUsage: req.extendedKeyUsage,
      san: req.san,
      ...(this.subjectKeyId ? { authorityKeyId: this.subjectKeyId } : {}),
      ...(this.pointers && !req.noStatusPointers
        ? { crlUrls: [this.pointers.crlUrl], ocspUrls: [this.pointers.ocspUrl], caIssuerUrls: [this.pointers.caIssuersUrl] }
        : {}),
      ...(req.ocspNoCheck ? { ocspNoCheck: true } : {}),
    };
    const signer = this.signer;
    // An ECDSA signature costs ~25 µs, less than handing it to the thread pool and back (which
    // measured ~10% more CPU per certificate); RSA signatures cost milliseconds, so they go to
    // the pool and the event loop stays free. A token signs on its own thread (pkcs11js's async calls).
    const der = !isDelegated(signer) && signer.algorithm.startsWith('ec-') ? signCertificate(profile, signer) : await signCertificateAsync(profile, signer);
    return { der, pem: toPem('CERTIFICATE', der), serialHex: serial.toString('hex'), notBefore: req.notBefore, notAfter };
  }

  async signCrl(request: CrlRequest): Promise<Buffer> {
    const input = { issuerDer: this.subjectDer, authorityKeyId: this.subjectKeyId, ...request };
    return isDelegated(this.signer) ? buildCrlAsync(input, this.signer) : buildCrl(input, this.signer);
  }
}
