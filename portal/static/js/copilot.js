// "Insert link" puts the article's link into the draft at the cursor; the draft is sent only
// by the agent's own click. Without this file the link stays visible to copy.
if (!window.copilotReady) {
  window.copilotReady = true;
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copilot-insert]");
    if (!button) return;
    const box = document.getElementById("copilot-draft");
    if (!box) return;
    const text = button.getAttribute("data-copilot-insert");
    const at = box.selectionStart ?? box.value.length;
    const before = box.value.slice(0, at);
    const glue = before && !before.endsWith("\n") ? "\n" : "";
    box.value = before + glue + text + "\n" + box.value.slice(box.selectionEnd ?? at);
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
}
