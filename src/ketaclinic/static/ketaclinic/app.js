// Small progressive enhancements; every page works without them.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined) {
    target.form.requestSubmit();
  }
});
document.addEventListener("keydown", (event) => {
  // "/" jumps to the patient search, as in many clinical systems.
  if (event.key === "/" && !(event.target instanceof HTMLInputElement) &&
      !(event.target instanceof HTMLTextAreaElement) && !(event.target instanceof HTMLSelectElement)) {
    const search = document.getElementById("patient-search");
    if (search) { event.preventDefault(); search.focus(); }
  }
});

// Live panels (session chart, chair board): replace the element with fresh server HTML
// every data-poll-seconds, unless someone is typing or has a form open inside it.
function inUse(element) {
  const active = document.activeElement;
  if (active && element.contains(active) && active.matches("input, textarea, select")) return true;
  // Nor while a form opened inside it is in use (a strike-through, say).
  return element.querySelector("details[open]") !== null;
}
function pollLive() {
  document.querySelectorAll("[data-poll-url]").forEach((element) => {
    const seconds = Number(element.dataset.pollSeconds || 15);
    const due = Number(element.dataset.polledAt || 0) + seconds * 1000;
    if (Date.now() < due) return;
    element.dataset.polledAt = String(Date.now());
    if (inUse(element)) return;
    if (window.htmx) {
      window.htmx.ajax("GET", element.dataset.pollUrl, { target: element, swap: "outerHTML" });
    }
  });
}
// A refresh that was already on its way when someone opened a form or began typing is
// dropped on arrival, so what they typed is never swapped away; the next one comes later.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  const config = event.detail.requestConfig;
  if (!target || !target.dataset || target.dataset.pollUrl === undefined || !config) return;
  if (config.verb === "get" && config.path === target.dataset.pollUrl && inUse(target)) {
    event.detail.shouldSwap = false;
  }
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-poll-url]").forEach((e) => { e.dataset.polledAt = String(Date.now()); });
  setInterval(pollLive, 1000);
});
// After a reading is saved, clear the vitals form for the next one and go back to its
// first box; after a refused one, keep what was typed.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (!(form instanceof HTMLFormElement) || form.dataset.vitalsForm === undefined) return;
  if (event.detail.xhr && event.detail.xhr.getResponseHeader("HX-Trigger") === "vitalsSaved") {
    form.reset();
    const first = form.querySelector("input:not([type=hidden])");
    if (first) first.focus();
  }
});
