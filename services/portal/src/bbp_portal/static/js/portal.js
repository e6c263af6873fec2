// The portal's only script (no inline script: the CSP forbids it).
(function () {
  "use strict";

  // The CSRF token for JSON calls: send it as X-CSRFToken with every mutation.
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // fetch() with the CSRF header and same-origin cookies; for the /api/ pages.
  window.bbpFetch = function (url, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    var method = (options.method || "GET").toUpperCase();
    if (["GET", "HEAD", "OPTIONS"].indexOf(method) < 0) {
      headers.set("X-CSRFToken", csrfToken());
    }
    options.headers = headers;
    options.credentials = "same-origin";
    return fetch(url, options);
  };

  // Forms that destroy something ask first: <form data-bbp-confirm="Delete this?">.
  document.addEventListener("submit", function (event) {
    var text = event.target.getAttribute && event.target.getAttribute("data-bbp-confirm");
    if (text && !window.confirm(text)) { event.preventDefault(); }
  });

  // Forms that start something run once: <form data-bbp-once> disables its buttons on submit
  // (a double click must not start two requests).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.hasAttribute || !form.hasAttribute("data-bbp-once")) { return; }
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // <input type=checkbox data-bbp-check-all="ids"> ticks every enabled box named "ids" in its form.
  document.addEventListener("change", function (event) {
    var box = event.target;
    var name = box.getAttribute && box.getAttribute("data-bbp-check-all");
    if (!name || !box.form) { return; }
    box.form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (other) {
      if (!other.disabled) { other.checked = box.checked; }
    });
  });

  // <input type=checkbox data-bbp-tick-page> on the pending page ticks every enabled row box
  // ([data-bbp-tick]) on the page; its own htmx request ticks them in the selection at once.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.hasAttribute || !box.hasAttribute("data-bbp-tick-page")) { return; }
    document.querySelectorAll("input[type=checkbox][data-bbp-tick]").forEach(function (other) {
      if (!other.disabled) { other.checked = box.checked; }
    });
  });

  // The sticky bar of the pending page is swapped in only if the answer is the bar
  // (X-BBP-Selection): after the session ended a tick is answered by the sign-in page, and
  // a refused tick by an error; either way the whole page reloads to show where things stand.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var xhr = event.detail.xhr;
    if (!target || target.id !== "selection-bar" || !xhr) { return; }
    if (xhr.status !== 200 || xhr.getResponseHeader("X-BBP-Selection") !== "1") {
      event.detail.shouldSwap = false;
      window.location.reload();
    }
  });

  // <button data-bbp-copy="element-id"> copies that field's value (the new API token page).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-bbp-copy]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-bbp-copy"));
    if (!field) { return; }
    field.select();
    var done = function () { button.textContent = button.getAttribute("data-bbp-copied") || button.textContent; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // New and confirmed password must match: say so before the form is sent.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-bbp-password-pair]").forEach(function (form) {
      var first = form.querySelector('input[name="new_password"]');
      var second = form.querySelector('input[name="confirm_password"]');
      if (!first || !second) { return; }
      var check = function () {
        second.setCustomValidity(second.value && first.value !== second.value
          ? (document.documentElement.lang === "bn" ? "দুটি নতুন পাসওয়ার্ড মেলেনি।" : "The two new passwords differ.")
          : "");
      };
      first.addEventListener("input", check);
      second.addEventListener("input", check);
    });
  });
})();
