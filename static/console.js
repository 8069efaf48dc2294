// Bulkhead console: small enhancements. Every page works without them; the
// server checks everything again.
(function () {
  "use strict";

  // Copy buttons: data-copy names the element whose text is copied.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el) return;
    var label = btn.textContent;
    copyText(el.textContent.trim()).then(function () {
      btn.textContent = "Copied";
      btn.classList.add("copied");
    }, function () {
      // Select the text so that the person can copy it by hand.
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      btn.textContent = "Press Ctrl+C";
    });
    setTimeout(function () {
      btn.textContent = label;
      btn.classList.remove("copied");
    }, 2000);
  });

  // Forms that ask before they act: data-confirm holds the question.
  document.addEventListener("submit", function (e) {
    var q = e.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) e.preventDefault();
  });

  // Typed confirmation: the button stays off until the input matches.
  document.querySelectorAll("[data-expect]").forEach(function (input) {
    var form = input.form;
    var btn = form && form.querySelector("button[type=submit]");
    if (!btn) return;
    var check = function () { btn.disabled = input.value.trim() !== input.getAttribute("data-expect"); };
    input.addEventListener("input", check);
    check();
  });

  // Plan presets: choosing a plan fills the limits it implies, unless the
  // person typed their own.
  var plan = document.querySelector("select[data-presets]");
  if (plan) {
    var presets = JSON.parse(plan.getAttribute("data-presets"));
    var fill = function () {
      var p = presets[plan.value];
      if (!p) return;
      ["max_users", "max_groups"].forEach(function (name) {
        var input = plan.form.elements[name];
        if (input && !input.dataset.touched) input.placeholder = p[name];
      });
    };
    ["max_users", "max_groups"].forEach(function (name) {
      var input = plan.form.elements[name];
      if (input) input.addEventListener("input", function () { input.dataset.touched = "1"; });
    });
    plan.addEventListener("change", fill);
    fill();
  }

  // Filters apply as soon as a select changes.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.requestSubmit ? s.form.requestSubmit() : s.form.submit(); });
  });
})();

// A page rendered in answer to a form (to show a secret once) moves the
// address to the page itself, so that reloading shows it without the secret
// and does not send the form again.
(function () {
  var el = document.querySelector("[data-replace-url]");
  if (el && window.history && history.replaceState) {
    history.replaceState(null, "", el.getAttribute("data-replace-url"));
  }
})();
