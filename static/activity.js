// Bulkhead console: the tenant activity feed, live. New entries arrive as
// Server-Sent Events and are added on top of the table; the page works
// without this script, by reloading.
(function () {
  "use strict";

  var body = document.querySelector("tbody[data-activity-stream]");
  if (!body || !window.EventSource) return;
  var table = document.querySelector("[data-activity-table]");
  var empty = document.querySelector("[data-activity-empty]");
  var state = document.querySelector("[data-live-state]");
  var url = body.getAttribute("data-activity-stream") + "?after=" + encodeURIComponent(body.getAttribute("data-after") || "0");

  function show(text, cls) {
    if (!state) return;
    state.textContent = text;
    state.className = "badge " + cls;
  }

  var source = new EventSource(url);
  source.addEventListener("open", function () { show("Live", "badge-ok"); });
  source.addEventListener("error", function () {
    // EventSource reconnects by itself, from the last id it saw.
    show(source.readyState === EventSource.CLOSED ? "Offline: reload the page" : "Reconnecting…", "badge-warn");
  });
  source.addEventListener("activity", function (ev) {
    var entry = JSON.parse(ev.data);
    if (body.querySelector('tr[data-id="' + entry.id + '"]')) return;
    // The row is rendered by the server's own template, escaped there.
    body.insertAdjacentHTML("afterbegin", entry.html);
    if (table) table.hidden = false;
    if (empty) empty.hidden = true;
    var rows = body.querySelectorAll("tr");
    for (var i = 200; i < rows.length; i++) rows[i].remove();
  });
})();
