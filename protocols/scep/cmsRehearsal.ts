// A CMS thread's first job costs several times its later ones: V8 has not compiled pkijs's and
// asn1js's paths yet and the schemas are not built (pkijsSchemas.ts). A thread therefore runs one
// enrollment's CMS work on a throw-away key before it takes jobs, while the process starts, so
// that no device's first request pays for it.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { randomSerial, signCertificate } from '../../src/pki/certificate.js';
import { encodeName, parseDnString } from '../../src/pki/name.js';
import { DES_EDE3_CBC, MESSAGE_TYPE } from './algorithms.js';
import { parseCertificate, signerOf } from './certRef.js';
import { RecipientCache, runCmsJob, type ReadResult } from './cmsJobs.js';
import { buildEnvelope } from './envelope.js';
import { buildPkiMessage } from './signedData.js';

/** A PKCSReq built, read, opened and answered, as a request is; throws when it does not read back. */
export async function rehearse(): Promise<void> {
  // The smallest RSA key node makes: its bit length does not change which code runs.
  const { privateKey: key } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const name = encodeName(parseDnString('CN=certgate CMS rehearsal'));
  const now = Date.now();
  const der = signCertificate(
    { serial: randomSerial(), issuerDer: name, subjectDer: name, spkiDer: createPublicKey(key).export({ format: 'der', type: 'spki' }), notBefore: new Date(now - 60_000), notAfter: new Date(now + 60_000), keyUsage: ['digitalSignature', 'keyEncipherment'], extendedKeyUsage: [] },
    { key, algorithm: 'rsa-2048' },
  );
  const self = signerOf(der, parseCertificate(der));
  const envelope = buildEnvelope(Buffer.from('rehearsal'), self, DES_EDE3_CBC);
  const request = await buildPkiMessage({ signer: { ...self, key }, digest: 'sha256', messageType: MESSAGE_TYPE.PKCSReq, transactionId: 'rehearsal', envelope });
  const read = (await runCmsJob({ op: 'read', der: request, now, maxClockSkewMs: 60_000, recipients: [{ id: 'rehearsal', der, key }] }, new RecipientCache())) as ReadResult;
  if (read.kind !== 'verified' || !read.opened) throw new Error(`the CMS rehearsal did not read back: ${read.kind}`);
  await runCmsJob(
    {
      op: 'reply',
      signer: { ...self, key },
      digest: 'sha256',
      transactionId: 'rehearsal',
      recipientNonce: read.message.senderNonce,
      status: 'SUCCESS',
      success: { certificates: [der], crls: [], recipient: read.message.signer, cipherOid: read.opened.cipherOid },
    },
    new RecipientCache(),
  );
}
