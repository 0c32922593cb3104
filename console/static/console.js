/* socialear console: small progressive enhancements (the pages work without them).
   No inline scripts anywhere: this file is loaded with `defer` under a strict CSP.
   - live character count for the reply editor, as the platform counts (X: URLs 23,
     most CJK/emoji 2; twitter-text v3 weights, like responders/replies.py)
   - SLA countdowns that tick between the 15-second refreshes
   - "copy reply" buttons */
(function () {
  "use strict";
  var URL_RE = /(?:https?:\/\/|www\.)[^\s<>"']+/gi;
  var LIGHT = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];

  function isEmoji(cp) { return cp >= 0x1F000 || (cp >= 0x2600 && cp <= 0x27BF); }

  function weight(cp) {
    for (var i = 0; i < LIGHT.length; i++) {
      if (cp >= LIGHT[i][0] && cp <= LIGHT[i][1]) { return 1; }
    }
    return 2;
  }

  function textWeight(text) {
    var total = 0, prevEmoji = false, joined = false;
    for (var ch of text) {
      var cp = ch.codePointAt(0);
      if (cp === 0xFE0E || cp === 0xFE0F || (cp >= 0x1F3FB && cp <= 0x1F3FF)) { continue; }
      if (cp === 0x200D && prevEmoji) { joined = true; continue; }
      if (joined && isEmoji(cp)) { joined = false; continue; }
      joined = false;
      prevEmoji = isEmoji(cp);
      total += weight(cp);
    }
    return total;
  }

  function xLength(text) {
    text = text.normalize("NFC");
    var total = 0, pos = 0, m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text)) !== null) {
      var url = m[0].replace(/[.,:;!?)\]}'"]+$/, "");
      total += textWeight(text.slice(pos, m.index)) + 23;
      pos = m.index + url.length;
      URL_RE.lastIndex = pos;
    }
    return total + textWeight(text.slice(pos));
  }

  function countReply(area) {
    var out = document.getElementById("reply-count");
    var limit = parseInt(area.getAttribute("data-limit") || "0", 10);
    if (!out || !limit) { return; }
    var text = area.value.replace(/\r\n/g, "\n").trim();
    var n = area.getAttribute("data-platform") === "x" ? xLength(text) : Array.from(text).length;
    out.textContent = n + " / " + limit;
    out.classList.toggle("over", n > limit);
    out.classList.toggle("near", n <= limit && n > limit * 0.9);
  }

  function span(seconds) {
    seconds = Math.abs(Math.floor(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60);
    if (d) { return d + "d " + h + "h"; }
    if (h) { return h + "h " + String(m).padStart(2, "0") + "m"; }
    return m + "m";
  }

  function tickSla() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      var total = parseInt(el.getAttribute("data-total") || "0", 10);
      if (isNaN(due)) { return; }
      var left = (due - now) / 1000;
      var level = left <= 0 ? "red" : (total > 0 && left < total * 0.25 ? "amber" : "ok");
      el.textContent = left <= 0 ? "overdue " + span(left) : span(left) + " left";
      el.classList.remove("sla-ok", "sla-amber", "sla-red");
      el.classList.add("sla-" + level);
    });
  }

  function init() {
    document.querySelectorAll("textarea[data-limit]").forEach(countReply);
    tickSla();
  }

  document.addEventListener("input", function (ev) {
    var t = ev.target;
    if (t && t.matches && t.matches("textarea[data-limit]")) { countReply(t); }
  });
  document.addEventListener("click", function (ev) {
    var btn = ev.target && ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (!btn) { return; }
    var src = document.querySelector(btn.getAttribute("data-copy"));
    if (src && navigator.clipboard) {
      var text = (src.value !== undefined) ? src.value : src.textContent;
      navigator.clipboard.writeText(text).then(function () {
        btn.textContent = "Copied";
      });
    }
  });
  document.addEventListener("click", function (ev) {
    var btn = ev.target && ev.target.closest ? ev.target.closest("[data-fill]") : null;
    var area = document.getElementById("reply-text");
    var src = btn ? document.querySelector(btn.getAttribute("data-fill")) : null;
    if (!src || !area) { return; }
    area.value = src.textContent;
    countReply(area);
    area.focus();
  });
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  setInterval(tickSla, 30000);
})();

/* Throughput: keyboard shortcuts (with a help overlay on "?"), and the notice of new
   urgent items (polls /queue/pulse; the tab title shows how many urgent items wait).
   Keys are ignored while typing in a field or with a modifier held. */
(function () {
  "use strict";
  var HELP = [
    ["j / k", "next / previous item"],
    ["x", "select the item (for the bulk actions)"],
    ["c", "claim"],
    ["r", "reply (opens the item, or puts the cursor in the reply)"],
    ["e", "resolve and go to the next item"],
    ["Enter", "open the item"],
    ["?", "show or hide this help"],
    ["Esc", "close this help"]
  ];
  var focusedId = null;
  var baseTitle = document.title;
  var newestSeen = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue-rows tr[data-id]")); }
  function onQueue() { return !!document.querySelector("table[data-keyboard=queue]"); }

  function helpBox() {
    var box = document.getElementById("kbd-help");
    if (box) { return box; }
    box = document.createElement("div");
    box.id = "kbd-help";
    box.className = "kbd-help";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Keyboard shortcuts");
    box.hidden = true;
    var h = document.createElement("h2");
    h.textContent = "Keyboard shortcuts";
    box.appendChild(h);
    var dl = document.createElement("dl");
    HELP.forEach(function (pair) {
      var dt = document.createElement("dt"), dd = document.createElement("dd"), k = document.createElement("kbd");
      k.textContent = pair[0]; dt.appendChild(k); dd.textContent = pair[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    box.appendChild(dl);
    var close = document.createElement("button");
    close.type = "button"; close.textContent = "Close"; close.className = "small-btn";
    close.addEventListener("click", function () { box.hidden = true; });
    box.appendChild(close);
    document.body.appendChild(box);
    return box;
  }

  function toggleHelp(show) {
    var box = helpBox();
    box.hidden = show === undefined ? !box.hidden : !show;
  }

  function focusRow(id) {
    rows().forEach(function (tr) {
      var on = tr.getAttribute("data-id") === id;
      tr.classList.toggle("kbd-focus", on);
      if (on) { tr.setAttribute("aria-current", "true"); } else { tr.removeAttribute("aria-current"); }
      if (on && tr.scrollIntoView) { tr.scrollIntoView({block: "nearest"}); }
    });
    focusedId = id;
  }

  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    var i = list.findIndex(function (tr) { return tr.getAttribute("data-id") === focusedId; });
    i = i < 0 ? 0 : Math.max(0, Math.min(list.length - 1, i + step));
    focusRow(list[i].getAttribute("data-id"));
  }

  function current() { return focusedId ? document.getElementById("row-" + focusedId) : null; }

  function click(el) { if (el) { el.click(); return true; } return false; }

  function queueKey(key) {
    var tr = current();
    if (key === "j") { move(1); return true; }
    if (key === "k") { move(-1); return true; }
    if (!tr) { return false; }
    var id = tr.getAttribute("data-id");
    if (key === "x") { var box = tr.querySelector("input[type=checkbox]"); if (box) { box.checked = !box.checked; } return true; }
    if (key === "c") { return click(tr.querySelector("form[action$='/claim'] button")); }
    if (key === "r") { window.location.href = "/escalations/" + id + "#reply"; return true; }
    if (key === "e") { window.location.href = "/escalations/" + id + "#resolve-next"; return true; }
    if (key === "Enter") { window.location.href = "/escalations/" + id; return true; }
    return false;
  }

  function pageKey(key) {
    if (key === "r") { var area = document.getElementById("reply-text"); if (area) { area.focus(); return true; } return false; }
    if (key === "e") { return click(document.getElementById("resolve-next")); }
    if (key === "c") { return click(document.querySelector("#holder form[action$='/claim'] button")); }
    if (key === "j") { window.location.href = "/queue/next"; return true; }
    if (key === "k") { window.location.href = "/queue"; return true; }
    return false;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var t = ev.target;
    if (t && t.closest && t.closest("input, textarea, select, [contenteditable]")) {
      if (ev.key === "Escape" && t.blur) { t.blur(); }
      return;
    }
    if (ev.key === "?") { toggleHelp(); ev.preventDefault(); return; }
    if (ev.key === "Escape") { toggleHelp(false); return; }
    var handled = onQueue() ? queueKey(ev.key) : (document.getElementById("holder") ? pageKey(ev.key) : false);
    if (handled) { ev.preventDefault(); }
  });

  document.addEventListener("click", function (ev) {
    if (ev.target && ev.target.closest && ev.target.closest("[data-kbd-help]")) { toggleHelp(); }
  });

  document.addEventListener("htmx:afterSettle", function (ev) {
    if (focusedId && !(ev.detail && ev.detail.target === document.body)) { focusRow(focusedId); }
  });

  function pulse() {
    if (!onQueue() || !window.fetch) { return; }
    fetch("/queue/pulse", {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var n = data.urgent_open;
        document.title = (n > 0 ? "(" + n + " urgent) " : "") + baseTitle;
        if (newestSeen === null) { newestSeen = data.newest_urgent_id; return; }
        if (data.newest_urgent_id > newestSeen) {
          var note = document.getElementById("urgent-notice");
          if (note) {
            note.textContent = "New urgent items arrived: " + n + " urgent waiting. ";
            var a = document.createElement("a");
            a.href = "/queue?sort=urgency"; a.textContent = "Show them first";
            note.appendChild(a);
            note.hidden = false;
          }
          newestSeen = data.newest_urgent_id;
          var tbody = document.getElementById("queue-rows");
          if (tbody && window.htmx) { window.htmx.trigger(tbody, "refresh"); }
        }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  function start() {
    baseTitle = document.title.replace(/^\(\d+ urgent\) /, "");
    newestSeen = null;
    focusedId = null;
    if (onQueue()) {
      var list = rows();
      if (list.length) { focusRow(list[0].getAttribute("data-id")); }
      pulse();
    }
    if (window.location.hash === "#resolve-next") {
      var btn = document.getElementById("resolve-next");
      if (btn) { btn.focus(); }
    } else if (window.location.hash === "#reply") {
      var area = document.getElementById("reply-text");
      if (area) { area.focus(); }
    }
  }
  // hx-boost swaps the whole body on navigation: start again for the new page
  document.addEventListener("htmx:afterSettle", function (ev) {
    if (ev.detail && ev.detail.target === document.body) { start(); }
  });
  setInterval(pulse, 10000);
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
