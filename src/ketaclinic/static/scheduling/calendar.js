// Calendar keyboard shortcuts: "[" previous, "]" next, "t" today, "w" week/day.
// The links they follow are ordinary links on the page (data-calendar-key), so every
// shortcut also works by Tab and Enter. Ignored while typing in a form field.
(() => {
  const KEYS = { "[": "prev", "]": "next", t: "today", w: "toggle" };
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement &&
        (target.isContentEditable || target.closest("input, textarea, select"))) return;
    const name = KEYS[event.key];
    if (!name) return;
    const link = document.querySelector(`[data-calendar-key="${name}"]`);
    if (!(link instanceof HTMLAnchorElement)) return;
    event.preventDefault();
    window.location.assign(link.href);
  });
})();
