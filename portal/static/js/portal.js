// Small progressive enhancements; the pages work without this file.
document.addEventListener("htmx:responseError", (event) => {
  const alerts = document.getElementById("alerts");
  if (alerts && !event.detail.xhr.getResponseHeader("HX-Retarget")) {
    alerts.innerHTML = '<div class="alert alert-error" role="alert">Something went wrong. Please try again.</div>';
  }
});
document.addEventListener("htmx:sendError", () => {
  const alerts = document.getElementById("alerts");
  if (alerts) {
    alerts.innerHTML = '<div class="alert alert-error" role="alert">You appear to be offline. Your text is still here; try again in a moment.</div>';
  }
});
// A 429 answer carries a fragment saying how long to wait: show it where the request
// asked (htmx leaves error responses unswapped, which would hide the message).
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 429) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
