// The few things dns-packet does but its type declarations leave out (its name, question and
// record codecs, which say how many bytes they read), plus the one thing RFC 2136 needs that
// dns-packet cannot write: the class NONE (254) of a "delete this one record" entry.
import dnsPacket, { type Answer, type Packet, type Question } from 'dns-packet';

interface Codec<T> {
  encode(value: T, buf?: Buffer, offset?: number): Buffer;
  decode: ((buf: Buffer, offset?: number) => T) & { bytes: number };
  encodingLength(value: T): number;
}

const codecs = dnsPacket as unknown as { name: Codec<string>; question: Codec<Question>; answer: Codec<Answer> };

export const OPCODE_UPDATE = 5;
export const CLASS_NONE = 254;

export interface DecodedMessage {
  id: number;
  opcode: number;
  rcode: number;
  packet: Packet;
}

export const dnsWire = {
  /** A name in wire form, uncompressed (dns-packet never compresses). */
  nameBytes(name: string): Buffer {
    return codecs.name.encode(name);
  },

  readName(buf: Buffer, offset: number): { name: string; bytes: number } {
    const name = codecs.name.decode(buf, offset);
    return { name, bytes: codecs.name.decode.bytes };
  },

  encodeRecord(record: Answer): Buffer {
    return codecs.answer.encode(record);
  },

  /**
   * Encodes a message whose `authorities` (the update section) may hold records of class NONE:
   * they are written as IN and their class field is then set to NONE.
   */
  encode(packet: Packet & { opcode?: number; classNone?: ReadonlySet<Answer> }): Buffer {
    const flags = ((packet.opcode ?? 0) << 11) | (packet.flags ?? 0);
    const wire = dnsPacket.encode({ ...packet, flags });
    if (!packet.classNone?.size) return wire;
    let offset = 12;
    for (const q of packet.questions ?? []) offset += codecs.question.encodingLength(q);
    for (const section of [packet.answers ?? [], packet.authorities ?? [], packet.additionals ?? []]) {
      for (const record of section) {
        // The class follows the owner name and the type.
        if (packet.classNone.has(record)) wire.writeUInt16BE(CLASS_NONE, offset + codecs.name.encodingLength(record.name) + 2);
        offset += codecs.answer.encodingLength(record);
      }
    }
    return wire;
  },

  decode(wire: Buffer): DecodedMessage {
    const packet = dnsPacket.decode(wire);
    const flags = wire.readUInt16BE(2);
    return { id: wire.readUInt16BE(0), opcode: (flags >> 11) & 0xf, rcode: flags & 0xf, packet };
  },

  /** The last record of the additional section and where it starts (TSIG must be that record). */
  lastAdditional(wire: Buffer): { record: Answer; offset: number } | null {
    const counts = [0, 1, 2, 3].map((i) => wire.readUInt16BE(4 + 2 * i));
    const [qd = 0, an = 0, ns = 0, ar = 0] = counts;
    if (ar === 0) return null;
    let offset = 12;
    for (let i = 0; i < qd; i++) {
      codecs.question.decode(wire, offset);
      offset += codecs.question.decode.bytes;
    }
    for (let i = 0; i < an + ns + ar - 1; i++) {
      codecs.answer.decode(wire, offset);
      offset += codecs.answer.decode.bytes;
    }
    return { record: codecs.answer.decode(wire, offset), offset };
  },
};
