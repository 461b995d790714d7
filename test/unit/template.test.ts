import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Template } from "../../src/core/template.js";
import {
  DELETED_MESSAGE_ID,
  Message,
  PING_MESSAGE_ID,
  TIMEOUT_MESSAGE_ID,
  specialMessage,
} from "../../src/core/message.js";
import { BITRIX_MESSAGE_TEMPLATE } from "../../src/config/layouts/bitrixvm.js";

const TIME = 1715289393; // Thu, 09 May 2024 21:16:33 GMT
const TIME_TEXT = "Thu, 09 May 2024 21:16:33 GMT";
const EPOCH_TEXT = "Thu, 01 Jan 1970 00:00:00 GMT";

function message(overrides: Partial<{
  id: number;
  channel: string;
  time: number;
  tag: number;
  text: string | Buffer;
  eventId: string;
  eventType: string;
}> = {}): Message {
  const text = overrides.text ?? "hello";
  return new Message(
    overrides.id ?? 7,
    overrides.channel ?? "ch1",
    overrides.time ?? TIME,
    overrides.tag ?? 3,
    1,
    Buffer.isBuffer(text) ? text : Buffer.from(text),
    overrides.eventId ?? "ev-1",
    overrides.eventType ?? "chat",
    Infinity,
  );
}

function render(source: string, m: Message = message()): string {
  return new Template(source).render(m).toString("utf8");
}

describe("Template tokens", () => {
  test("~id~ is the message id in decimal", () => {
    assert.equal(render("[~id~]", message({ id: 42 })), "[42]");
  });

  test("~channel~ is the channel id", () => {
    assert.equal(render("<~channel~>", message({ channel: "room-9" })), "<room-9>");
  });

  test("~text~ is the body, raw (no escaping)", () => {
    assert.equal(render('{"text":"~text~"}', message({ text: 'a"b\\c<d>' })), '{"text":"a"b\\c<d>"}');
  });

  test("~text~ keeps arbitrary bytes as they are", () => {
    const body = Buffer.from([0x00, 0xff, 0x7e, 0x0a, 0x80]);
    const out = new Template("<~text~>").render(message({ text: body }));
    assert.deepEqual(out, Buffer.concat([Buffer.from("<"), body, Buffer.from(">")]));
  });

  test("~size~ is the byte length of the body, not its character count", () => {
    assert.equal(render("~size~", message({ text: "héllo" })), "6");
    assert.equal(render("~size~", message({ text: "" })), "0");
  });

  test("~tag~ is the same-second tag", () => {
    assert.equal(render("W/~tag~", message({ tag: 12 })), "W/12");
  });

  test("~time~ is the publish time as a 29-character HTTP date", () => {
    const out = render("~time~");
    assert.equal(out, TIME_TEXT);
    assert.equal(out.length, 29);
  });

  test("~event-id~ and ~event-type~ are the publish headers' values", () => {
    assert.equal(render("~event-id~|~event-type~", message({ eventId: "42a", eventType: "update" })), "42a|update");
  });

  test("~event-id~ and ~event-type~ are empty when not given", () => {
    assert.equal(render("[~event-id~][~event-type~]", message({ eventId: "", eventType: "" })), "[][]");
  });

  test("all eight tokens in one template", () => {
    const m = message({ id: 5, channel: "c", text: "xyz", tag: 2, eventId: "e", eventType: "t" });
    assert.equal(
      render("~id~,~channel~,~text~,~size~,~tag~,~time~,~event-id~,~event-type~", m),
      `5,c,xyz,3,2,${TIME_TEXT},e,t`,
    );
  });

  test("tokens are matched case-insensitively", () => {
    const m = message({ id: 5, channel: "c", text: "xyz", tag: 2, eventId: "e", eventType: "t" });
    assert.equal(
      render("~ID~,~Channel~,~TEXT~,~SiZe~,~TAG~,~Time~,~EVENT-ID~,~Event-Type~", m),
      `5,c,xyz,3,2,${TIME_TEXT},e,t`,
    );
  });

  test("a token may appear several times", () => {
    assert.equal(render("~id~-~id~-~ID~", message({ id: 9 })), "9-9-9");
  });

  test("unknown tokens and lone tildes are literal", () => {
    assert.equal(render("~foo~ ~ ~~ ~id ~text", message()), "~foo~ ~ ~~ ~id ~text");
  });
});

describe("Template rendering", () => {
  test("substitution is single-pass: token text inside a value is not expanded", () => {
    const m = message({ id: 1, text: "~id~ ~channel~ ~TIME~", channel: "~tag~", tag: 8 });
    assert.equal(render("~channel~:~text~:~tag~", m), "~tag~:~id~ ~channel~ ~TIME~:8");
  });

  test("a template without tokens renders to its literal bytes", () => {
    const t = new Template("plain text ü");
    assert.deepEqual(t.render(message()), Buffer.from("plain text ü"));
    assert.equal(t.isEmpty, false);
  });

  test("the default template ~text~ renders exactly the body", () => {
    assert.equal(render("~text~", message({ text: "just this" })), "just this");
  });

  test("the Bitrix template renders byte-exact", () => {
    const m = message({ id: 3, channel: "0123456789abcdef0123456789abcdef", tag: 1, eventId: "", text: '{"module_id":"im","command":"x"}' });
    assert.equal(
      render(BITRIX_MESSAGE_TEMPLATE, m),
      '#!NGINXNMS!#{"id":3,"channel":"0123456789abcdef0123456789abcdef","tag":"1",'
        + `"time":"${TIME_TEXT}","eventid":"","text":{"module_id":"im","command":"x"}}#!NGINXNME!#`,
    );
  });

  test("renderText substitutes the given text for ~text~ and ~size~ only", () => {
    const t = new Template("~id~:~text~:~size~");
    assert.equal(t.renderText(message({ id: 4, text: "long body" }), Buffer.from("ab")).toString(), "4:ab:2");
  });

  test("isEmpty is true only for the empty template", () => {
    assert.equal(new Template("").isEmpty, true);
    assert.equal(new Template(" ").isEmpty, false);
    assert.deepEqual(new Template("").render(message()), Buffer.alloc(0));
  });
});

describe("Template render cache", () => {
  test("Template.of gives one Template per text, so locations sharing a template share the bytes", () => {
    const a = Template.of("[~text~]");
    const b = Template.of("[~text~]");
    assert.equal(a, b);
    assert.notEqual(Template.of("(~text~)"), a);
    const m = message();
    assert.equal(a.render(m), b.render(m));
  });

  test("the same Buffer instance is returned for the same message and template", () => {
    const t = new Template("<~text~>");
    const m = message();
    const first = t.render(m);
    const second = t.render(m);
    assert.equal(first, second);
    assert.equal(first.toString(), "<hello>");
  });

  test("each message is rendered once per template", () => {
    const t = new Template("~id~");
    let calls = 0;
    const counting = (msg: Message): Buffer => {
      calls++;
      return t.renderUncached(msg);
    };
    const m = message();
    m.rendered(t, counting);
    m.rendered(t, counting);
    m.rendered(t, counting);
    assert.equal(calls, 1);
  });

  test("different templates render separately and each is cached", () => {
    const a = new Template("A:~id~");
    const b = new Template("B:~id~");
    const c = new Template("C:~id~");
    const m = message({ id: 11 });
    const ra = a.render(m);
    const rb = b.render(m);
    const rc = c.render(m);
    assert.equal(ra.toString(), "A:11");
    assert.equal(rb.toString(), "B:11");
    assert.equal(rc.toString(), "C:11");
    assert.equal(a.render(m), ra);
    assert.equal(b.render(m), rb);
    assert.equal(c.render(m), rc);
  });

  test("two templates with the same source are still different cache keys", () => {
    const a = new Template("~id~!");
    const b = new Template("~id~!");
    const m = message({ id: 2 });
    const ra = a.render(m);
    const rb = b.render(m);
    assert.equal(ra.toString(), "2!");
    assert.equal(rb.toString(), "2!");
    assert.notEqual(ra, rb);
  });

  test("the cache is per message: another message renders its own bytes", () => {
    const t = new Template("~id~");
    assert.equal(t.render(message({ id: 1 })).toString(), "1");
    assert.equal(t.render(message({ id: 2 })).toString(), "2");
  });
});

describe("Template with special messages", () => {
  const all = "~id~|~channel~|~text~|~size~|~tag~|~time~|~event-id~|~event-type~";

  test("ping (id -1) renders with tag 0 and the epoch time", () => {
    const ping = specialMessage(PING_MESSAGE_ID, "", " ");
    assert.equal(render(all, ping), `-1|| |1|0|${EPOCH_TEXT}||`);
  });

  test("ping with push-stream's documented templates", () => {
    const ping = specialMessage(PING_MESSAGE_ID, "", " ");
    assert.equal(render("~id~:~text~", ping), "-1: ");
    assert.equal(
      render('|{"channel":"~channel~", "message":"~text~", "message_id":"~id~"}', ping),
      '|{"channel":"", "message":" ", "message_id":"-1"}',
    );
  });

  test("channel deleted (id -2) carries the channel id", () => {
    const deleted = specialMessage(DELETED_MESSAGE_ID, "ch1", "Channel deleted");
    assert.equal(render(all, deleted), `-2|ch1|Channel deleted|15|0|${EPOCH_TEXT}||`);
  });

  test("timeout (id -3) renders 'Timed out' with an empty channel", () => {
    const timeout = specialMessage(TIMEOUT_MESSAGE_ID, "", "Timed out");
    assert.equal(render(all, timeout), `-3||Timed out|9|0|${EPOCH_TEXT}||`);
  });

  test("special messages through the Bitrix template", () => {
    const timeout = specialMessage(TIMEOUT_MESSAGE_ID, "", "Timed out");
    assert.equal(
      render(BITRIX_MESSAGE_TEMPLATE, timeout),
      `#!NGINXNMS!#{"id":-3,"channel":"","tag":"0","time":"${EPOCH_TEXT}","eventid":"","text":Timed out}#!NGINXNME!#`,
    );
  });
});

describe("Template: ~channel~ between double quotes is escaped for the string", () => {
  const hostile = 'q"x\\y';

  test("in Bitrix's envelope the id reads back unchanged from JSON", () => {
    const out = render(BITRIX_MESSAGE_TEMPLATE, message({ channel: hostile, text: "1" }));
    const json = JSON.parse(/#!NGINXNMS!#(.*)#!NGINXNME!#/s.exec(out)![1]!) as { channel: string };
    assert.equal(json.channel, hostile);
  });

  test("outside quotes the id is inserted as it is, as push-stream does", () => {
    assert.equal(render("<~channel~>", message({ channel: hostile })), `<${hostile}>`);
    assert.equal(render('"a" ~channel~ "b"', message({ channel: hostile })), `"a" ${hostile} "b"`);
  });

  test("an escaped quote in the template does not end its string", () => {
    assert.equal(render('"say \\" ~channel~"', message({ channel: hostile })), '"say \\" q\\"x\\\\y"');
  });

  test("other values between quotes stay as they are", () => {
    assert.equal(render('"~event-id~"', message({ eventId: 'e"1' })), '"e"1"');
  });

  test("an ordinary id comes out byte for byte", () => {
    assert.equal(render('{"channel":"~channel~"}', message({ channel: "room-9" })), '{"channel":"room-9"}');
  });
});
