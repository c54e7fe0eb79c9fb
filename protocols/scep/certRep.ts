// The CertRep (RFC 8894 §3.3.2): the RA's signed answer to every request.
import * as asn1js from 'asn1js';
import { FAIL_INFO, MESSAGE_TYPE, PKI_STATUS, SCEP_ATTR, type DigestName, type FailInfo, type PkiStatus } from './algorithms.js';
import { buildPkiMessage, type MessageSigner } from './signedData.js';

export interface CertRep {
  signer: MessageSigner;
  digest: DigestName;
  transactionId: string;
  recipientNonce: Buffer;
  status: PkiStatus;
  failInfo?: FailInfo;
  /** SUCCESS: the pkcsPKIEnvelope. */
  envelope?: Buffer;
}

/** A CertRep (messageType 3) signed by the RA. */
export function buildCertRep(o: CertRep): Promise<Buffer> {
  return buildPkiMessage({
    signer: o.signer,
    digest: o.digest,
    messageType: MESSAGE_TYPE.CertRep,
    transactionId: o.transactionId,
    attributes: [
      { type: SCEP_ATTR.pkiStatus, value: new asn1js.PrintableString({ value: PKI_STATUS[o.status] }) },
      ...(o.status === 'FAILURE' ? [{ type: SCEP_ATTR.failInfo, value: new asn1js.PrintableString({ value: FAIL_INFO[o.failInfo ?? 'badRequest'] }) }] : []),
      { type: SCEP_ATTR.recipientNonce, value: new asn1js.OctetString({ valueHex: o.recipientNonce }) },
    ],
    ...(o.envelope ? { envelope: o.envelope } : {}),
  });
}
