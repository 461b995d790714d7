/**
 * The page the browser tests load: plain browser JavaScript (kept as text, so the test build needs
 * no DOM types) that drives the browser's own EventSource, WebSocket and XMLHttpRequest against
 * pushwire and reports every event to the test through the exposed function `report`.
 */

/** What the page reports to the test, one object per browser event. */
export interface PageEvent {
  source: string;
  kind: string;
  [key: string]: unknown;
}

const PAGE_SCRIPT = String.raw`
"use strict";
const report = (source, kind, fields) => window.report(Object.assign({ source, kind }, fields));
const pw = (window.pw = {});

// EventSource: one per call; 'message' and each named type are reported alike.
pw.openEventSource = (source, url, types) => {
  const es = new EventSource(url);
  pw[source] = es;
  const onEvent = (e) => report(source, "event", { type: e.type, data: e.data, lastEventId: e.lastEventId, origin: e.origin });
  es.onopen = () => report(source, "open", {});
  es.onerror = () => report(source, "error", { readyState: es.readyState });
  es.onmessage = onEvent;
  for (const type of types) es.addEventListener(type, onEvent);
};

pw.openWebSocket = (source, url) => {
  const ws = new WebSocket(url);
  pw[source] = ws;
  ws.onopen = () => report(source, "open", {});
  ws.onmessage = (e) => report(source, "message", { data: e.data, isText: typeof e.data === "string" });
  ws.onerror = () => report(source, "error", {});
  ws.onclose = (e) => report(source, "close", { code: e.code, reason: e.reason, wasClean: e.wasClean });
};

pw.close = (source) => pw[source] && pw[source].close();

// One XMLHttpRequest GET: what the page can read of the cross-origin answer.
pw.get = (url, headers) => new Promise((resolve) => {
  const xhr = new XMLHttpRequest();
  const started = performance.now();
  xhr.open("GET", url);
  for (const name of Object.keys(headers || {})) xhr.setRequestHeader(name, headers[name]);
  xhr.timeout = 5000;
  const done = (error) => resolve({
    status: xhr.status,
    text: xhr.responseText,
    lastModified: xhr.getResponseHeader("Last-Modified"),
    contentType: xhr.getResponseHeader("Content-Type"),
    ms: Math.round(performance.now() - started),
    error,
  });
  xhr.onload = () => done(null);
  xhr.onerror = () => done("network error");
  xhr.ontimeout = () => done("timeout");
  xhr.send();
});

// The envelopes of a Bitrix-template body, parsed the way Bitrix's client does.
const envelopes = (text) => [...text.matchAll(/#!NGINXNMS!#(.*?)#!NGINXNME!#/gs)].map((m) => JSON.parse(m[1]));

// A Bitrix-style long-poll loop: no cursor at first, then tag/time of the last envelope received;
// reconnects at once after a 200 or a 304, stops on anything else. pausePolling() lets the poll in
// flight finish and holds the next one until resumePolling().
pw.startPolling = (source, base) => {
  const loop = (pw[source] = { gate: null, stopped: false, tag: null, time: null });
  (async () => {
    while (!loop.stopped) {
      if (loop.gate) await loop.gate.promise;
      if (loop.stopped) break;
      const cursor = loop.time === null ? "" : "&tag=" + loop.tag + "&time=" + encodeURIComponent(loop.time);
      const reply = await pw.get(base + cursor + "&rnd=" + Date.now());
      const items = reply.status === 200 ? envelopes(reply.text) : [];
      report(source, "reply", Object.assign(reply, { cursor, items }));
      for (const item of items) {
        loop.tag = item.tag;
        loop.time = item.time;
      }
      if (reply.status !== 200 && reply.status !== 304) break;
    }
    report(source, "stopped", {});
  })();
};

pw.pausePolling = (source) => {
  let release;
  const promise = new Promise((resolve) => (release = resolve));
  pw[source].gate = { promise, release };
};

pw.resumePolling = (source) => {
  const gate = pw[source].gate;
  pw[source].gate = null;
  if (gate) gate.release();
};

pw.stopPolling = (source) => {
  pw[source].stopped = true;
  pw.resumePolling(source);
};

report("page", "ready", {});
`;

/** The whole test page. */
export const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>pushwire browser test</title></head>
<body><script>${PAGE_SCRIPT}</script></body></html>
`;
