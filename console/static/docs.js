/* Starts Swagger UI from the bundled copy (no CDN); a file, not an inline script, for the CSP. */
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("swagger-ui");
    if (!el || typeof window.SwaggerUIBundle !== "function") { return; }
    window.SwaggerUIBundle({ url: el.getAttribute("data-spec"), dom_id: "#swagger-ui",
      deepLinking: false, presets: [window.SwaggerUIBundle.presets.apis] });
  }
  if (document.readyState === "complete") { start(); } else { window.addEventListener("load", start); }
})();
