// The customer's page keeps itself current: each `changed` event re-reads the live part and swaps it in.
// Without script the page still works (reload to see changes; the form posts normally).
(function () {
  "use strict";
  var base = document.body.getAttribute("data-base");
  var part = document.getElementById("live");
  if (!base || !part || !window.EventSource || !window.fetch) { return; }
  var source = new EventSource(base + "/events");
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(base + "/live", { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" })
      .then(function (response) {
        if (response.status === 404) { source.close(); window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          var next = new DOMParser().parseFromString(html, "text/html");
          part.replaceChildren.apply(part, Array.prototype.slice.call(next.body.childNodes));
          document.title = (part.querySelector("h1") || document).textContent || document.title;
        }
      })
      .catch(function () { /* the next event tries again */ })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  source.addEventListener("ready", function () { document.body.setAttribute("data-live", "ready"); });
  source.addEventListener("changed", refresh);
})();
