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
      navigator.clipboard.writeText(src.textContent).then(function () {
        btn.textContent = "Copied";
      });
    }
  });
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  setInterval(tickSla, 30000);
})();
