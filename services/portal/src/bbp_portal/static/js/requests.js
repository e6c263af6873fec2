// The request page: live progress without reloading (polls the JSON progress endpoint, which
// reads the request's tallies), and the per-biller totals of the bills found.
(function () {
  "use strict";

  var POLL_MS = 1500;
  var MAX_POLL_MS = 15000;

  function number(n) { return Number(n).toLocaleString("en-US"); }
  function money(text) {
    var n = Number(text);
    return isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : text;
  }
  function cell(text, right) {
    var td = document.createElement("td");
    td.textContent = text;
    if (right) { td.className = "text-end"; }
    return td;
  }

  function showProgress(root, p) {
    var bar = document.getElementById("progress-bar");
    if (bar) { bar.value = p.percent; }
    var set = function (id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } };
    set("progress-percent", Number(p.percent).toFixed(1));
    set("progress-done", number(p.done));
    set("progress-total", number(p.total));
    var state = document.getElementById("request-state");
    if (state && state.textContent !== p.state.replace(/_/g, " ")) {
      state.textContent = p.state.replace(/_/g, " ");
      state.className = "badge align-middle bbp-state-" + p.state;
    }
    root.querySelectorAll("[data-bucket]").forEach(function (badge) {
      badge.textContent = number(p.counts[badge.getAttribute("data-bucket")] || 0);
    });
    root.querySelectorAll("[data-amount]").forEach(function (cell) {
      cell.textContent = money(p.amounts[cell.getAttribute("data-amount")] || "0");
    });
    root.setAttribute("data-settled", p.settled ? "true" : "false");
    if (p.settled) {
      ["cancel-form", "pause-form", "resume-form"].forEach(function (id) {
        var form = document.getElementById(id);
        if (form) { form.remove(); }
      });
    }
  }

  function loadBillers(url) {
    var table = document.getElementById("biller-totals");
    if (!table || !url) { return; }
    window.bbpFetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (t) {
      if (!t) { return; }
      var body = table.querySelector("tbody");
      var foot = table.querySelector("tfoot");
      body.textContent = "";
      foot.textContent = "";
      if (!t.billers.length) {
        var none = document.createElement("tr");
        var td = cell(t.settled ? "No pending bill was found." : "No pending bill found yet.");
        td.colSpan = 5;
        td.className = "text-body-secondary";
        none.appendChild(td);
        body.appendChild(none);
        return;
      }
      t.billers.forEach(function (b) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-biller", b.utility_code);
        [cell(b.utility_code), cell(number(b.accounts), true), cell(number(b.bills), true),
          cell(money(b.amount), true), cell(money(b.service_charge), true)].forEach(function (c) { tr.appendChild(c); });
        body.appendChild(tr);
      });
      var total = document.createElement("tr");
      total.setAttribute("data-biller", "total");
      [cell("Total"), cell("", true), cell(number(t.bills), true), cell(money(t.amount), true),
        cell(money(t.service_charge), true)].forEach(function (c) { total.appendChild(c); });
      foot.appendChild(total);
    }).catch(function () { /* the totals are a convenience: the page works without them */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("progress");
    if (!root) { return; }
    var url = root.getAttribute("data-progress-url");
    var billersUrl = root.getAttribute("data-billers-url");
    var lastDone = document.getElementById("progress-done") ? document.getElementById("progress-done").textContent : "";
    var delay = POLL_MS;
    loadBillers(billersUrl);
    if (root.getAttribute("data-settled") === "true") { return; }

    function poll() {
      if (document.hidden) { window.setTimeout(poll, delay); return; }
      // A background poll: it must not keep an unattended session alive (X-BBP-Background).
      window.bbpFetch(url, { headers: { "X-BBP-Background": "1" } }).then(function (r) {
        if (r.status === 401) { window.location.reload(); return new Promise(function () {}); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      }).then(function (p) {
        delay = POLL_MS;
        showProgress(root, p);
        if (number(p.done) !== lastDone) {
          var stale = document.getElementById("progress-stale");
          if (stale) { stale.classList.remove("d-none"); }
        }
        if (p.settled) { loadBillers(billersUrl); return; }
        window.setTimeout(poll, delay);
      }).catch(function () {
        delay = Math.min(delay * 2, MAX_POLL_MS);  // the portal or network hiccupped: back off
        window.setTimeout(poll, delay);
      });
    }
    window.setTimeout(poll, delay);
  });
})();
