// The request pages: their live part (rows, progress, state) is polled by htmx from a small
// HTML fragment (see templates/requests/_live.html); this script only guards those swaps and
// adds what the fragment does not carry: the per-biller totals of the bills a fetch found,
// and removing the buttons of a request that has settled.
(function () {
  "use strict";

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

  function settled() {
    var root = document.getElementById("progress");
    if (!root || root.getAttribute("data-settled") !== "true") { return false; }
    ["cancel-form", "pause-form", "resume-form"].forEach(function (id) {
      var form = document.getElementById(id);
      if (form) { form.remove(); }
    });
    return true;
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

  // A live fragment is swapped in only if it is one (X-BBP-Live): after the session ended
  // the poll is answered by the sign-in page, and the whole page reloads to show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 200 && xhr.getResponseHeader("X-BBP-Live") !== "1") {
      event.detail.shouldSwap = false;
      window.location.reload();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("progress");
    if (!root) { return; }
    var billersUrl = root.getAttribute("data-billers-url");
    loadBillers(billersUrl);
    if (settled()) { return; }
    var done = false;
    document.body.addEventListener("htmx:afterSettle", function () {
      if (!done && settled()) {
        done = true;
        loadBillers(document.getElementById("progress").getAttribute("data-billers-url"));
      }
    });
  });
})();
