// Chat: stream pending replies into the page, then swap in the stored, cited version.
// Autosave the hand-off form so nothing typed is lost when leaving the page.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function replaceWithFinal(element) {
    var item = element.closest("li");
    return fetch(element.dataset.finalUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var holder = document.createElement("ol");
        holder.innerHTML = html;
        var fresh = holder.querySelector("li");
        if (fresh && item) {
          item.replaceWith(fresh);
          if (window.htmx) { window.htmx.process(fresh); }
        }
      });
  }

  function streamInto(element) {
    if (element.dataset.streaming) { return; }
    element.dataset.streaming = "1";
    element.textContent = "";
    element.setAttribute("aria-busy", "true");
    fetch(element.dataset.streamUrl, { credentials: "same-origin" }).then(function (response) {
      if (!response.body || !response.body.getReader) {
        return response.text().then(function () { return replaceWithFinal(element); });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      function pump() {
        return reader.read().then(function (result) {
          if (result.done) { return replaceWithFinal(element); }
          var text = decoder.decode(result.value, { stream: true });
          var reset = text.lastIndexOf("\u0000");
          if (reset >= 0) {  // the server dropped a failed answer: start again
            element.textContent = "";
            text = text.slice(reset + 1);
          }
          element.textContent += text;
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      element.textContent = "The connection dropped. Reload the page to see the answer.";
    });
  }

  function scan(root) {
    (root || document).querySelectorAll("[data-stream-url]").forEach(streamInto);
    var box = document.getElementById("chat-messages");
    if (box && box.lastElementChild) { box.lastElementChild.scrollIntoView({ block: "nearest" }); }
  }

  var saveTimer = null;
  var unsaved = null;
  function draftData(form) {
    var data = new FormData(form);  // includes the form's csrf_token field
    data.set("action", "save");
    return data;
  }
  function autosave(form) {
    unsaved = form;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () {
      unsaved = null;
      fetch(form.dataset.draftUrl, {
        method: "POST", body: draftData(form), credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      });
    }, 400);
  }
  // Leaving before the debounced save ran: send it anyway.
  window.addEventListener("pagehide", function () {
    if (unsaved && navigator.sendBeacon) {
      clearTimeout(saveTimer);
      navigator.sendBeacon(unsaved.dataset.draftUrl, draftData(unsaved));
      unsaved = null;
    }
  });

  // Back from a cited article can restore this page from the back/forward cache as it was
  // when first loaded, before the replies htmx added: fetch the conversation as it is now.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.getElementById("chat")) { window.location.reload(); }
  });
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function (event) { scan(event.target); });
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("#handoff-form");
    if (form) { autosave(form); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.id === "chat-input" && event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  });
})();
