// Reading the ASN.1 values of a SCEP message (asn1js): anything not of the expected type is a
// MalformedMessage, since a message whose fields cannot be read cannot be answered.
import * as asn1js from 'asn1js';
import { serialOrNull } from '../../src/pki/serial.js';
import { MalformedMessage } from './messageErrors.js';

export function berOf(bytes: Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.result.error) throw new MalformedMessage(`not BER: ${parsed.result.error || 'unreadable'}`);
  if (parsed.offset !== bytes.byteLength) throw new MalformedMessage('trailing data after the message');
  return parsed.result;
}

export const bytesOf = (view: ArrayBuffer | Uint8Array): Buffer => Buffer.from(view instanceof Uint8Array ? view : new Uint8Array(view));
export const toDer = (schema: { toBER(sizeOnly?: boolean): ArrayBuffer }): Buffer => Buffer.from(schema.toBER(false));

/** The value of an OCTET STRING, primitive or (BER) constructed. */
export function octets(value: unknown): Buffer {
  if (!(value instanceof asn1js.OctetString)) throw new MalformedMessage('expected an OCTET STRING');
  return bytesOf(value.getValue());
}

export function stringOf(value: unknown, what: string): string {
  if (value instanceof asn1js.PrintableString || value instanceof asn1js.Utf8String || value instanceof asn1js.IA5String) return value.getValue();
  throw new MalformedMessage(`${what} is not a string`);
}

export function serialHexOf(serial: asn1js.Integer): string {
  // Zero is no certificate's serial: looking '00' up finds none, as it always did.
  return serialOrNull(bytesOf(serial.valueBlock.valueHexView)) ?? '00';
}

/** `fn()`, or `fallback` when it throws (a malformed value is as good as a wrong one here). */
export function orElse<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
