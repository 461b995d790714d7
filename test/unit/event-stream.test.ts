import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EVENT_STREAM_PING, EventStreamFormat, eventStreamComment } from "../../src/core/event-stream.js";
import { DELETED_MESSAGE_ID, Message, specialMessage } from "../../src/core/message.js";

/**
 * The EventSource rendering (PROTOCOL.md §8.5, push-stream's event_source_spec.rb examples):
 * header/footer as comment lines, each text line as a `data:` line through the template, `id:` and
 * `event:` from Event-Id/Event-Type, a blank line ending the event.
 */

let seq = 0;
function message(text: string, extra: { id?: number; eventId?: string; eventType?: string; channel?: string } = {}): Message {
  seq++;
  return new Message(extra.id ?? 1, extra.channel ?? "ch", 1_700_000_000, 1, seq, Buffer.from(text), extra.eventId ?? "", extra.eventType ?? "", Infinity);
}

function render(template: string, m: Message): string {
  return EventStreamFormat.of(template).render(m).toString("utf8");
}

describe("eventStreamComment: header and footer templates", () => {
  test("an empty header becomes `: \\n`; an empty footer stays empty", () => {
    assert.equal(eventStreamComment("", true).toString(), ": \n");
    assert.equal(eventStreamComment("", false).toString(), "");
  });

  test("each line split on LF, CR or CRLF becomes `: <line>\\n`", () => {
    const template = "header line 1\nheader line 2\rheader line 3\r\nheader line 4";
    const expected = ": header line 1\n: header line 2\n: header line 3\n: header line 4\n";
    assert.equal(eventStreamComment(template, true).toString(), expected);
    assert.equal(eventStreamComment(template.replaceAll("header", "footer"), false).toString(), expected.replaceAll("header", "footer"));
  });

  test("empty lines are dropped, a trailing line break adds nothing", () => {
    assert.equal(eventStreamComment("a\n\n\r\nb\n", true).toString(), ": a\n: b\n");
    assert.equal(eventStreamComment("\r\n\r\nonly\r\n", false).toString(), ": only\n");
  });

  test("a header of line breaks alone has no line to send (push-stream sends nothing)", () => {
    assert.equal(eventStreamComment("\n\n", true).toString(), "");
    assert.equal(eventStreamComment("\r\n", false).toString(), "");
  });

  test("an escaped new line (backslash n) stays one line", () => {
    assert.equal(eventStreamComment("header line 1\\nheader line 2", true).toString(), ": header line 1\\nheader line 2\n");
  });

  test("a template already starting with `: ` is used verbatim", () => {
    assert.equal(eventStreamComment(": custom\nraw", true).toString(), ": custom\nraw");
    assert.equal(eventStreamComment(": bye\n", false).toString(), ": bye\n");
  });

  test("a template starting with `:` but no space is still transformed", () => {
    assert.equal(eventStreamComment(":x", true).toString(), ": :x\n");
  });
});

describe("EventStreamFormat: messages", () => {
  test("default template: `data: test message\\n\\n`", () => {
    assert.equal(render("~text~", message("test message")), "data: test message\n\n");
  });

  test("Event-Id gives an `id:` line before the data", () => {
    assert.equal(
      render("~text~", message("test message", { eventId: "event_id_with_generic_text_01" })),
      "id: event_id_with_generic_text_01\ndata: test message\n\n",
    );
  });

  test("Event-Type gives an `event:` line; with both, id comes first", () => {
    assert.equal(render("~text~", message("test message", { eventType: "tick" })), "event: tick\ndata: test message\n\n");
    assert.equal(render("~text~", message("m", { eventId: "7", eventType: "tick" })), "id: 7\nevent: tick\ndata: m\n\n");
  });

  test("each line of the text (LF, CR, CRLF) is its own data line; empty lines dropped", () => {
    assert.equal(render("~text~", message("line 1\nline 2\rline 3\r\nline 4")), "data: line 1\ndata: line 2\ndata: line 3\ndata: line 4\n\n");
    assert.equal(render("~text~", message("\nA\n\n\r\rB\r\n")), "data: A\ndata: B\n\n");
  });

  test("an escaped new line in the text stays on one data line", () => {
    assert.equal(render("~text~", message("line 1\\nline 2")), "data: line 1\\nline 2\n\n");
  });

  test("a custom template is applied per line", () => {
    const template = '{"id":"~id~", "message":"~text~"}';
    assert.equal(render(template, message("test message")), 'data: {"id":"1", "message":"test message"}\n\n');
    assert.equal(render(template, message("a\nb", { id: 4 })), 'data: {"id":"4", "message":"a"}\ndata: {"id":"4", "message":"b"}\n\n');
  });

  test("~size~ is the size of each line, not of the whole text", () => {
    assert.equal(render("~size~:~text~", message("ab\ncde\r\nf")), "data: 2:ab\ndata: 3:cde\ndata: 1:f\n\n");
  });

  test("a template already starting with `data: ` is used as it is", () => {
    assert.equal(render("data: ~text~\n", message("test message")), "data: test message\n\n");
    assert.equal(render("data: [~id~] ~text~\n", message("x\ny", { id: 2 })), "data: [2] x\ndata: [2] y\n\n");
  });

  test("an empty text (or only line breaks) still makes one empty data line", () => {
    assert.equal(render("~text~", message("")), "data: \n\n");
    assert.equal(render("~text~", message("\r\n\n")), "data: \n\n");
    assert.equal(render("<~text~>", message("\n")), "data: <>\n\n");
  });

  test("the deleted pseudo-message renders like any message", () => {
    const deleted = specialMessage(DELETED_MESSAGE_ID, "room", "Channel deleted");
    assert.equal(render("~id~ ~channel~ ~text~", deleted), "data: -2 room Channel deleted\n\n");
  });

  test("bytes are not re-encoded: UTF-8 passes through", () => {
    assert.equal(render("~text~", message("żółw ✓")), "data: żółw ✓\n\n");
  });

  test("one format per template; a message is rendered once per format and shared", () => {
    assert.equal(EventStreamFormat.of("~text~"), EventStreamFormat.of("~text~"));
    assert.notEqual(EventStreamFormat.of("~text~"), EventStreamFormat.of("~text~!"));
    const m = message("shared");
    const first = EventStreamFormat.of("~text~").render(m);
    assert.equal(EventStreamFormat.of("~text~").render(m), first);
    assert.equal(EventStreamFormat.of("~text~!").render(m).toString(), "data: shared!\n\n");
    assert.equal(EventStreamFormat.of("~text~").render(m), first);
  });
});

test("the ping is the comment `: -1\\n`", () => {
  assert.equal(EVENT_STREAM_PING.toString(), ": -1\n");
});

describe("fieldLinesLength: the bytes of the id: and event: lines", () => {
  test("is exactly what render writes before the data lines, for every combination, in UTF-8 bytes", () => {
    const format = EventStreamFormat.of("~text~");
    for (const eventId of ["", "7", "ид-1"]) {
      for (const eventType of ["", "t", "событие"]) {
        const m = message("body", { eventId, eventType });
        const rendered = format.render(m).toString("utf8");
        const dataAt = Buffer.byteLength(rendered.slice(0, rendered.indexOf("data: ")));
        assert.equal(format.fieldLinesLength(m), dataAt, JSON.stringify({ eventId, eventType }));
      }
    }
  });
});
