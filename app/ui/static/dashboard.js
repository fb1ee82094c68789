/* Batchmill dashboard: live progress, and a confirmation before a cancel.
 *
 * Every element with data-batch-id whose data-status is not "ended" is refreshed from
 * /ui/progress (this tenant's batches only) once a second; its [data-field] children take the
 * values of the same names. Polling stops once everything shown has ended. An element with
 * data-reload-on-end reloads the page when its batch ends, so the server draws the final
 * charts. No library, no inline script: the content security policy allows this file only.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var BACKOFF_MS = 5000;

  function liveElements() {
    return Array.prototype.filter.call(
      document.querySelectorAll("[data-batch-id]"),
      function (el) { return el.dataset.status !== "ended"; });
  }

  function setField(el, name, value) {
    el.querySelectorAll('[data-field="' + name + '"]').forEach(function (node) {
      node.textContent = typeof value === "number" ? value.toLocaleString("en-US") : value;
    });
  }

  function update(el, batch) {
    var wasEnded = el.dataset.status === "ended";
    el.dataset.status = batch.processing_status;
    el.querySelectorAll('progress[data-field="bar"]').forEach(function (bar) {
      bar.max = batch.request_count;
      bar.value = batch.done;
      bar.textContent = batch.percent + "%";
    });
    el.querySelectorAll('[data-field="processing_status"]').forEach(function (node) {
      node.textContent = batch.processing_status.replace("_", " ");
      node.className = "state state-" + batch.processing_status;
    });
    ["done", "percent", "processing", "succeeded", "errored", "canceled", "expired", "cost"]
      .forEach(function (name) { setField(el, name, batch[name]); });
    el.querySelectorAll("[data-show-when]").forEach(function (node) {
      node.hidden = node.dataset.showWhen !== batch.processing_status;
    });
    if (!wasEnded && batch.processing_status === "ended" && el.hasAttribute("data-reload-on-end")) {
      window.location.reload();
    }
  }

  function poll() {
    var live = liveElements();
    if (!live.length) { return; }
    var ids = [];
    live.forEach(function (el) {
      if (ids.indexOf(el.dataset.batchId) < 0) { ids.push(el.dataset.batchId); }
    });
    fetch("/ui/progress?ids=" + encodeURIComponent(ids.join(",")), {
      headers: { accept: "application/json" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) {
        window.location.assign("/ui/sign-in?next=" + encodeURIComponent(window.location.pathname));
        return null;
      }
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data === null) { window.setTimeout(poll, BACKOFF_MS); return; }
      var byId = {};
      data.batches.forEach(function (batch) { byId[batch.id] = batch; });
      live.forEach(function (el) {
        var batch = byId[el.dataset.batchId];
        if (batch) { update(el, batch); }
      });
      window.setTimeout(poll, POLL_MS);
    }).catch(function () { window.setTimeout(poll, BACKOFF_MS); });
  }

  document.addEventListener("submit", function (event) {
    var message = event.target.dataset ? event.target.dataset.confirm : null;
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, POLL_MS); });
  } else {
    window.setTimeout(poll, POLL_MS);
  }
})();
