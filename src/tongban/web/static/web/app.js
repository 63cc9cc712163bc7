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
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 400) {
          window.location.href = xhr.responseURL || window.location.href;
        } else {
          if (status) {
            var msg = form.getAttribute("data-failed");
            try { msg = JSON.parse(xhr.responseText).message || msg; } catch (e) { /* html */ }
            status.textContent = msg; status.className = "field-error";
          }
          input.setAttribute("aria-invalid", "true");
        }
      });
      xhr.send(new FormData(form));
    });
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
