// The load scripts read deliveries by lookup instead of JSON.parse: they must read the same
// seq and sentAt as a full parse, whatever the message says.
import { describe, expect, test } from "bun:test";
import { encodeFrame, type Message } from "../../src/protocol.ts";
import { numberAt, wireFor } from "./wire.js";

const sender = { sent: [] as string[], send(data: string) { this.sent.push(data); } };

function message(over: Partial<Message>): Message {
  return {
    id: "0192d1a8-7a4e-7000-8000-000000000001",
    roomId: "0192d1a8-7a4e-7000-8000-0000000000aa",
    seq: 41,
    updatedSeq: null,
    author: { id: "0192d1a8-7a4e-7000-8000-0000000000bb", username: "ann" },
    content: "hello",
    clientMsgId: "k6-bun-1-2-3",
    sentAt: 1764586800123,
    createdAt: "2026-12-01T10:00:00.000Z",
    editedAt: null,
    deletedAt: null,
    reactions: [],
    ...over,
  };
}

// Content a reader could trip over: keys and numbers spelled inside the text.
const tricky = [
  message({}),
  message({ content: '"seq":999,"sentAt":5 and {"event":"new_message",' }),
  message({ content: 'quote \\" "seq":7 backslash \\\\', seq: 1, sentAt: null }),
  message({ seq: 123456789, updatedSeq: 123456790, sentAt: 0 }),
];

describe("load wire: deliveries read by lookup", () => {
  test("ours (v1): the envelope's seq and the message's sentAt, as JSON.parse reads them", () => {
    const wire = wireFor("bun", "token");
    for (const m of tricky) {
      // A change event carries its own value in the envelope, above the message's seq.
      for (const envelopeSeq of [m.seq, m.seq + 3]) {
        const text = encodeFrame("new_message", m, { seq: envelopeSeq });
        const full = JSON.parse(text);
        expect(wire.parse(text, sender)).toEqual([{ type: "message", seq: full.seq, sentAt: full.data.sentAt }]);
      }
    }
  });

  test("ours (v1): other frames still go through JSON.parse", () => {
    const wire = wireFor("bun", "token");
    const ack = encodeFrame("message_ack", { roomId: "r", clientMsgId: "c", id: "i", seq: 9 }, { ref: 4 });
    expect(wire.parse(ack, sender)).toEqual([{ type: "ack", ref: 4, clientMsgId: "c", seq: 9 }]);
    expect(() => wire.parse("{not json", sender)).toThrow();
  });

  test("peer (Socket.IO): the Message's seq, not updatedSeq", () => {
    const wire = wireFor("peer", "token");
    for (const m of tricky) {
      const text = `42${JSON.stringify(["new_message", m])}`;
      expect(wire.parse(text, sender)).toEqual([{ type: "message", seq: m.seq, sentAt: m.sentAt }]);
    }
  });

  test("numberAt reads integers, negatives and null", () => {
    expect(numberAt('{"a":120,', 5)).toBe(120);
    expect(numberAt('{"a":-7}', 5)).toBe(-7);
    expect(numberAt('{"a":null}', 5)).toBeNull();
  });
});
