/**
 * The dashboard's browser script, plain JavaScript kept as text. Every value from the server
 * reaches the page through textContent, text nodes or numeric SVG attributes — never as markup —
 * so a channel id such as `"><script>` or one with CR/LF shows as the characters it is.
 */
export const DASHBOARD_JS = String.raw`"use strict";
(function () {
  var WINDOW_MS = 15 * 60 * 1000;
  /** Charts span the samples there are, from this much up to the whole window. */
  var MIN_SPAN_MS = 30 * 1000;
  var COLORS = ["#4fb3ff", "#f5b942", "#3fcf8e", "#ff6b6b", "#c792ea", "#7fdbca", "#ff9e64"];
  var app = document.getElementById("app");
  var publishEnabled = document.body.getAttribute("data-publish") === "on";
  var state = { now: null, series: [], busiest: [], search: "", found: null };
  var view = null; // the page shown: { kind: "overview" } or { kind: "channel", id, ... }

  // Builds an element; strings and numbers become text nodes, never markup.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) for (var key in attrs) {
      var value = attrs[key];
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      // Styles through the CSSOM: the page's CSP refuses style attributes.
      else if (key === "style") for (var property in value) node.style.setProperty(property, value[property]);
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(node, kid) {
    if (kid === undefined || kid === null || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach(function (k) { add(node, k); }); return; }
    node.appendChild(typeof kid === "object" ? kid : document.createTextNode(String(kid)));
  }
  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var key in attrs) node.setAttribute(key, String(attrs[key]));
    return node;
  }

  function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: 2 }); }
  function bytes(n) {
    if (n === null || n === undefined) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }
  function duration(s) {
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  }
  function clock(seconds) { return seconds ? new Date(seconds * 1000).toLocaleTimeString("en-GB") : "–"; }
  function channelHref(id) { return "#channel=" + encodeURIComponent(id); }
  function channelLink(id) { return el("a", { href: channelHref(id), "data-channel": id }, id); }

  function getJson(path) {
    return fetch(path, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(path + ": " + r.status);
      return r.json();
    });
  }

  // --- the overview -------------------------------------------------------------------------

  function card(label, value, sub, attrs) {
    var valueNode = el("div", Object.assign({ class: "value" }, attrs || {}), value);
    return el("div", { class: "card" }, el("div", { class: "label" }, label), valueNode, sub ? el("div", { class: "sub" }, sub) : null);
  }

  var MODES = ["long-polling", "polling", "streaming", "eventsource", "websocket"];

  function nowCards(now) {
    var held = now.heldByMode, modeRows = [];
    MODES.concat(Object.keys(held).filter(function (m) { return MODES.indexOf(m) < 0; })).forEach(function (mode) {
      modeRows.push(el("span", null, mode), el("span", { "data-held": mode }, num(held[mode] || 0)));
    });
    modeRows.push(el("span", null, "of which push2"), el("span", { "data-held": "push2" }, num(now.push2)));
    var budget = now.memoryBudget;
    var used = budget ? Math.min(100, now.memoryUsed / budget * 100) : 0;
    var loop = now.loopDelayMs;
    var listeners = now.listeners.map(function (l) {
      return el("div", { class: "sub" }, (l.address.indexOf(":") >= 0 ? "[" + l.address + "]" : l.address) + ":" + l.port + (l.tls ? " TLS" : " plain") + " — " + l.locations.join(", "));
    });
    var log = now.messageLog;
    return el("div", { class: "cards" },
      el("div", { class: "card wide" }, el("div", { class: "label" }, "held connections"),
        el("div", { class: "value", "data-value": "subscribers" }, num(now.subscribers)),
        el("div", { class: "kv sub" }, modeRows)),
      card("channels", num(now.channels), num(now.subscriptions) + " subscriptions" + (now.wildcardChannels ? ", " + num(now.wildcardChannels) + " wildcard" : ""), { "data-value": "channels" }),
      card("stored messages", num(now.storedMessages), bytes(now.storedBytes) + " of bodies", { "data-value": "storedMessages" }),
      el("div", { class: "card" }, el("div", { class: "label" }, "memory budget"),
        el("div", { class: "value", "data-value": "memoryUsed" }, bytes(now.memoryUsed)),
        el("div", { class: "sub" }, budget ? used.toFixed(1) + " % of " + bytes(budget) : "no cap (sharedMemorySize 0)"),
        budget ? el("div", { class: "bar" }, el("div", { style: { width: used.toFixed(1) + "%" } })) : null),
      card("process memory", bytes(now.rss), (now.workers === null ? "RSS" : "RSS of the " + now.workers.length + " workers") + "; heap " + bytes(now.heapUsed) + " / " + bytes(now.heapTotal), { "data-value": "rss" }),
      card("event-loop delay", loop ? loop.mean.toFixed(2) + " ms" : "–", loop ? "max " + loop.max.toFixed(2) + " ms over the last second" : "sampling", { "data-value": "loopDelay" }),
      card("workers", now.workers === null ? "1 process" : num(now.workers.length), now.workers === null ? "no worker processes"
        : now.workers.map(function (w) { return "#" + w.worker + (w.self ? " (this page)" : "") + ": " + num(w.subscribers) + " held, " + bytes(w.rss); }).join("; "), { "data-value": "workers" }),
      card("message log", log.state, log.state === "off" ? "memory only (no messageLog configured)"
        : log.failure ? log.failure : bytes(log.bytes) + " in " + num(log.segments) + " segment(s), fsync " + log.fsync, { "data-value": "messageLog" }),
      el("div", { class: "card wide" }, el("div", { class: "label" }, "listeners"), listeners));
  }

  // A small chart of the last 15 minutes: one path per line, broken where samples are missing.
  function chart(name, title, unit, lines) {
    var samples = state.series, end = samples.length ? samples[samples.length - 1].t : Date.now();
    var span = samples.length ? Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, end - samples[0].t)) : WINDOW_MS, start = end - span;
    var W = 300, H = 64, max = 1, sum = 0;
    lines.forEach(function (line) { samples.forEach(function (s) { var v = line.value(s); if (v !== null && v > max) max = v; }); });
    var box = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
    box.appendChild(svg("line", { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, stroke: "#263140", "stroke-width": 1 }));
    lines.forEach(function (line, i) {
      var d = "", prevT = 0;
      samples.forEach(function (s) {
        var v = line.value(s);
        if (i === 0 && v !== null) sum += v;
        if (s.t < start || v === null) { prevT = 0; return; }
        var x = (s.t - start) / span * W, y = H - 2 - v / max * (H - 6);
        d += (prevT && s.t - prevT < 2500 ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        prevT = s.t;
      });
      var attrs = { d: d, fill: "none", stroke: line.color || COLORS[i % COLORS.length], "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" };
      if (i > 0) attrs["stroke-dasharray"] = "4 3"; // a line drawn over another stays visible
      if (d) box.appendChild(svg("path", attrs));
    });
    var last = samples.length ? samples[samples.length - 1] : null;
    var current = lines.map(function (line) { var v = last ? line.value(last) : null; return v === null ? "–" : num(v); }).join(" / ");
    var legend = el("div", { class: "legend" }, lines.length > 1 ? lines.map(function (line, i) {
      return el("span", null, el("i", { style: { background: line.color || COLORS[i % COLORS.length] } }), line.label);
    }) : el("span", null, "peak " + num(max === 1 && !sum ? 0 : max) + " " + unit));
    return el("div", { class: "chart", "data-chart": name, "data-sum": sum, "data-last": last ? String(lines[0].value(last)) : "" },
      el("div", { class: "head" }, el("span", null, title), el("span", { class: "now" }, current + " " + unit)),
      box, legend);
  }

  function refusalLines() {
    var statuses = {};
    state.series.forEach(function (s) { for (var k in s.refusals) statuses[k] = true; });
    var keys = Object.keys(statuses).sort();
    if (!keys.length) return [{ label: "none", value: function () { return 0; } }];
    return keys.map(function (k) { return { label: k, value: function (s) { return s.refusals[k] || 0; } }; });
  }

  function charts() {
    function field(name) { return function (s) { return s[name]; }; }
    return el("div", { class: "charts" },
      chart("publishes", "publishes / s", "msg/s", [{ label: "publishes", value: field("publishes") }]),
      chart("deliveries", "deliveries / s", "msg/s", [{ label: "deliveries", value: field("deliveries") }]),
      chart("connections", "connections opened / closed per s", "/s", [{ label: "opened", value: field("opened") }, { label: "closed", value: field("closed"), color: "#f5b942" }]),
      chart("timeouts", "long-poll timeouts (304) / s", "/s", [{ label: "timeouts", value: field("timeouts") }]),
      chart("refusals", "refusals / s by status", "/s", refusalLines()),
      chart("latency", "publish → deliver latency p50 / p99", "ms", [{ label: "p50", value: field("p50") }, { label: "p99", value: field("p99"), color: "#ff6b6b" }]),
      chart("evictions", "evictions / s", "msg/s", [{ label: "evictions", value: field("evictions") }]));
  }

  function channelTable(rows, empty) {
    if (!rows.length) return el("div", { class: "empty" }, empty);
    return el("table", { "data-table": "channels" },
      el("thead", null, el("tr", null, el("th", null, "channel"), el("th", { class: "num" }, "subscribers"), el("th", { class: "num" }, "messages / s"), el("th", { class: "num" }, "stored"))),
      el("tbody", null, rows.map(function (c) {
        return el("tr", null, el("td", null, channelLink(c.id)), el("td", { class: "num" }, num(c.subscribers)), el("td", { class: "num" }, num(c.perSecond)), el("td", { class: "num" }, num(c.stored)));
      })));
  }

  var searchBox = el("input", { type: "search", placeholder: "search channels by id", "aria-label": "search channels", id: "search" });
  var searchTimer = 0;
  searchBox.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      state.search = searchBox.value;
      if (!state.search) { state.found = null; return render(); }
      getJson("api/channels?q=" + encodeURIComponent(state.search)).then(function (found) { state.found = found; render(); }).catch(function () {});
    }, 200);
  });

  var overviewParts = { now: el("div"), charts: el("div"), channels: el("div") };
  function renderOverview() {
    if (!state.now) return;
    overviewParts.now.replaceChildren(nowCards(state.now));
    overviewParts.charts.replaceChildren(charts());
    overviewParts.channels.replaceChildren(state.found
      ? channelTable(state.found, "no channel id contains that text")
      : channelTable(state.busiest, "no channels yet"));
    if (app.getAttribute("data-view") !== "overview") {
      app.setAttribute("data-view", "overview");
      app.replaceChildren(el("h2", null, "now"), overviewParts.now, el("h2", null, "last 15 minutes"), overviewParts.charts,
        el("h2", null, "busiest channels"), el("div", { class: "toolbar" }, searchBox), overviewParts.channels);
    }
  }

  // --- a channel's page ----------------------------------------------------------------------

  function tailLine(text) {
    var log = view && view.tailLog;
    if (!log) return;
    log.appendChild(el("div", null, text));
    while (log.childNodes.length > 200) log.removeChild(log.firstChild);
    log.scrollTop = log.scrollHeight;
  }

  function startTail() {
    stopTail();
    view.tailLog.replaceChildren();
    var source = new EventSource("tail?id=" + encodeURIComponent(view.id));
    view.tail = source;
    view.tailButton.textContent = "stop watching";
    source.onopen = function () { tailLine("watching " + view.id); refreshChannel(); };
    source.addEventListener("message", function (e) {
      var m = JSON.parse(e.data);
      tailLine(clock(m.time) + "  #" + m.id + "  " + m.size + " B  " + m.preview);
    });
    source.addEventListener("event", function (e) { var m = JSON.parse(e.data); tailLine(clock(m.time) + "  event " + m.type); });
    source.addEventListener("deleted", function () { tailLine("channel deleted"); });
  }
  function stopTail() {
    if (view && view.tail) { view.tail.close(); view.tail = null; view.tailButton.textContent = "watch this channel"; }
  }

  function publishForm() {
    if (!publishEnabled) return el("div", { class: "empty" }, "publishing from the dashboard is off (dashboardPublish)");
    var text = el("textarea", { id: "publish-text", "aria-label": "message text" }, "test message from the pushwire dashboard");
    var result = el("div", { class: "sub", id: "publish-result" });
    var button = el("button", { id: "publish", onclick: function () {
      fetch("publish?id=" + encodeURIComponent(view.id), { method: "POST", body: text.value, headers: { "X-Pushwire-Dashboard": "1" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error(r.status + " " + (r.headers.get("X-Nginx-PushStream-Explain") || ""))); })
        .then(function (reply) { result.textContent = "published #" + reply.message.id + " (" + reply.message.size + " B)"; refreshChannel(); })
        .catch(function (e) { result.textContent = "refused: " + e.message; });
    } }, "publish a test message");
    return el("div", null, text, el("div", { class: "toolbar" }, button, result));
  }

  function openChannel(id) {
    stopTail();
    var tailLog = el("div", { class: "log", id: "tail" });
    var tailButton = el("button", { id: "watch", onclick: function () { view.tail ? stopTail() : startTail(); } }, "watch this channel");
    view = { kind: "channel", id: id, tail: null, tailLog: tailLog, tailButton: tailButton, body: el("div") };
    app.setAttribute("data-view", "channel");
    view.cards = el("div");
    app.replaceChildren(el("a", { href: "#" }, "← overview"), el("h1", { id: "channel-id" }, id), view.cards,
      el("div", { class: "split" },
        el("div", null, el("h2", null, "publish a test message"), publishForm()),
        el("div", null, el("h2", null, "live tail"), el("div", { class: "toolbar" }, tailButton), tailLog)),
      view.body);
    refreshChannel();
  }

  function refreshChannel() {
    if (!view || view.kind !== "channel") return;
    var current = view;
    getJson("api/channel?id=" + encodeURIComponent(current.id)).then(function (c) {
      if (view !== current) return;
      var modes = Object.keys(c.subscribersByMode);
      current.cards.replaceChildren(
        el("div", { class: "cards" },
          card("subscribers", num(c.subscribers), c.exists ? null : "no such channel (yet)", { "data-value": "channel-subscribers" }),
          card("messages / s", num(c.perSecond), "last id " + num(c.lastMessageId)),
          card("stored", num(c.stored), null, { "data-value": "channel-stored" }),
          el("div", { class: "card" }, el("div", { class: "label" }, "subscribers by mode"),
            modes.length ? el("div", { class: "kv sub" }, modes.map(function (m) { return [el("span", null, m), el("span", { "data-channel-mode": m }, num(c.subscribersByMode[m]))]; })) : el("div", { class: "sub" }, "none"))));
      current.body.replaceChildren(
        el("h2", null, "stored messages"),
        c.messages.length ? el("table", { "data-table": "messages" },
          el("thead", null, el("tr", null, el("th", { class: "num" }, "id"), el("th", null, "time"), el("th", { class: "num" }, "tag"), el("th", { class: "num" }, "size"), el("th", null, "event type"), el("th", null, "text"))),
          el("tbody", null, c.messages.slice().reverse().map(function (m) {
            return el("tr", null, el("td", { class: "num" }, m.id), el("td", null, clock(m.time)), el("td", { class: "num" }, m.tag), el("td", { class: "num" }, bytes(m.size)), el("td", null, m.eventType), el("td", { class: "text" }, m.preview));
          }))) : el("div", { class: "empty" }, "nothing stored"),
        el("h2", null, "events channel"),
        c.events === null ? el("div", { class: "empty" }, "no events channel (eventsChannelId is not set)")
          : c.events.length ? el("div", { class: "log", id: "events" }, c.events.map(function (e) { return el("div", null, clock(e.time) + "  " + e.type); }))
          : el("div", { class: "empty" }, "no events about this channel"));
    }).catch(function () {});
  }

  // --- wiring --------------------------------------------------------------------------------

  function render() {
    if (view && view.kind === "channel") return;
    renderOverview();
  }

  function route() {
    var hash = location.hash;
    if (hash.indexOf("#channel=") === 0) {
      var id;
      try { id = decodeURIComponent(hash.slice(9)); } catch (e) { id = hash.slice(9); }
      return openChannel(id);
    }
    stopTail();
    view = { kind: "overview" };
    app.removeAttribute("data-view");
    render();
  }

  function showNow(now) {
    document.getElementById("version").textContent = "v" + now.version;
    document.getElementById("uptime").textContent = "up " + duration(now.uptime);
  }

  var live = document.getElementById("live");
  var feed = new EventSource("feed");
  feed.onopen = function () { live.textContent = "live"; live.className = "badge on"; };
  feed.onerror = function () { live.textContent = "reconnecting"; live.className = "badge off"; };
  feed.addEventListener("init", function (e) {
    var data = JSON.parse(e.data);
    state.now = data.now; state.series = data.series; state.busiest = data.busiest;
    showNow(data.now);
    render();
  });
  feed.addEventListener("sample", function (e) {
    var data = JSON.parse(e.data);
    state.now = data.now; state.busiest = data.busiest;
    if (data.sample) {
      state.series.push(data.sample);
      var start = data.sample.t - WINDOW_MS;
      while (state.series.length && state.series[0].t < start) state.series.shift();
    }
    showNow(data.now);
    if (view && view.kind === "channel") refreshChannel();
    else render();
  });
  window.addEventListener("hashchange", route);
  route();
})();
`;
