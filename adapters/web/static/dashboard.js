// Warroom dashboard: times in the viewer's zone, and pages that refresh themselves when the war room changes.
// Plain script, no build step; every page works without it.
(function () {
  "use strict";

  var format = new Intl.DateTimeFormat(undefined, {
    weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  // <time datetime="…" data-zone="America/Chicago" title="… (America/Chicago)">: the text becomes the viewer's
  // local time; the incident's own time stays in the title, shown on hover.
  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime][data-zone]");
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(at.getTime())) {
        times[i].textContent = format.format(at);
      }
    }
  }

  // A region marked data-live="<url>" is re-fetched from <url> (an HTML fragment) each time the server says the
  // database changed; a burst of changes costs one fetch.
  function live() {
    var region = document.querySelector("[data-live]");
    var stream = document.body.getAttribute("data-stream");
    if (!region || !stream || !window.EventSource) {
      return;
    }
    var status = document.getElementById("live-status");
    var fetching = false, again = false;

    function refresh() {
      if (fetching) { again = true; return; }
      fetching = true;
      fetch(region.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(response.status); }
          return response.text();
        })
        .then(function (html) {
          region.innerHTML = html;
          localTimes(region);
          document.body.setAttribute("data-refreshed", String(Date.now()));
        })
        .catch(function () { /* the next change tries again */ })
        .then(function () {
          fetching = false;
          if (again) { again = false; refresh(); }
        });
    }

    var source = new EventSource(stream), lost = false;
    source.addEventListener("ready", function () {
      if (status) { status.textContent = "Live: this page updates itself."; }
      document.body.setAttribute("data-live-ready", "1");
      if (lost) { lost = false; refresh(); }  // what changed while the stream was down
    });
    source.addEventListener("changed", refresh);
    source.onerror = function () {
      lost = true;  // the browser reconnects by itself; the server says "ready" again when it is back
      if (status) { status.textContent = "Live updates paused; reconnecting…"; }
    };
  }

  // Which zone the page shows, said where it can be seen: the viewer's, with the incident's on hover
  function zoneNote() {
    var note = document.getElementById("zone-note");
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (note && zone) {
      note.textContent = "Times are in your time zone (" + zone + "); hover over one for the incident's.";
    }
  }

  document.documentElement.classList.add("js");
  zoneNote();
  localTimes(document);
  live();
})();
