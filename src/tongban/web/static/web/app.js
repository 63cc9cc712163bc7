// tongban UI: small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";

  // Uploads: refuse a file over the limit before sending it, and show progress.
  function bindUpload(form) {
    var input = form.querySelector("input[type=file]");
    var bar = form.querySelector("progress");
    var status = form.querySelector("[data-upload-status]");
    var limit = parseInt(form.getAttribute("data-max-bytes") || "0", 10);
    form.addEventListener("submit", function (ev) {
      if (!input || !input.files || input.files.length === 0) { return; }
      var file = input.files[0];
      if (limit && file.size > limit) {
        ev.preventDefault();
        if (status) { status.textContent = form.getAttribute("data-too-large"); status.className = "field-error"; }
        input.setAttribute("aria-invalid", "true");
        return;
      }
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      ev.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      if (bar) { bar.hidden = false; bar.value = 0; }
      if (status) { status.textContent = form.getAttribute("data-uploading"); status.className = ""; }
      xhr.upload.addEventListener("progress", function (e) {
        if (bar && e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      });
      function refused(reason) {
        var failed = form.getAttribute("data-failed");
        if (status) { status.textContent = reason ? failed + "：" + reason : failed; status.className = "field-error"; }
        if (bar) { bar.hidden = true; }
        input.setAttribute("aria-invalid", "true");
      }
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 400) {
          window.location.href = xhr.responseURL || window.location.href;
        } else {
          refused(refusalReason(xhr, form) || "HTTP " + xhr.status);
        }
      });
      xhr.addEventListener("error", function () { refused(form.getAttribute("data-offline")); });
      xhr.send(new FormData(form));
    });
  }

  // Why the server refused an upload: the JSON error's message, or, from the page it
  // answered with, this form's own error line (else the error page's message).
  function refusalReason(xhr, form) {
    try { return JSON.parse(xhr.responseText).message; } catch (e) { /* an HTML page */ }
    if (!window.DOMParser) { return ""; }
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var action = form.getAttribute("action");
    var own = doc.querySelector('form[action="' + action + '"] [data-upload-error]');
    var found = own || doc.querySelector("[data-upload-error]") || doc.querySelector(".error-page .message");
    return found ? found.textContent.trim() : "";
  }

  // One click, one submission: disable a submit button once its form is sent.
  function guardSubmit(form) {
    form.addEventListener("submit", function () {
      var buttons = form.querySelectorAll("button[type=submit]");
      window.setTimeout(function () {
        for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
      }, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var uploads = document.querySelectorAll("form[data-upload]");
    for (var i = 0; i < uploads.length; i++) { bindUpload(uploads[i]); }
    var once = document.querySelectorAll("form[data-once]");
    for (var j = 0; j < once.length; j++) { guardSubmit(once[j]); }
  });
})();
