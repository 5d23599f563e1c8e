// Questionnaire pages: show progress, and keep answers in this tab until they are sent, so
// a dropped connection or a reload loses nothing. sessionStorage, not localStorage: the
// answers (item 9 among them) vanish when the tab closes, even on a shared phone.
(function () {
  const form = document.querySelector("form.self-report");
  if (!form) return;
  const key = form.dataset.storageKey;
  const questions = Array.from(form.querySelectorAll("[data-question]"));
  const bar = document.querySelector("[data-progress]");
  const text = document.querySelector("[data-progress-text]");

  function load() {
    try { return JSON.parse(sessionStorage.getItem(key) || "{}"); } catch (e) { return {}; }
  }
  function save() {
    const answers = {};
    form.querySelectorAll("input[type=radio]:checked").forEach((input) => {
      answers[input.name] = input.value;
    });
    try { sessionStorage.setItem(key, JSON.stringify(answers)); } catch (e) { /* private mode */ }
  }
  function progress() {
    const done = questions.filter((q) => q.querySelector("input:checked")).length;
    if (bar) bar.value = done;
    if (text) text.textContent = done + " of " + questions.length + " answered";
  }

  const saved = load();
  Object.entries(saved).forEach(([name, value]) => {
    const input = form.querySelector(`input[name="${CSS.escape(name)}"][value="${CSS.escape(value)}"]`);
    if (input && !form.querySelector(`input[name="${CSS.escape(name)}"]:checked`)) input.checked = true;
  });
  progress();

  form.addEventListener("change", (event) => {
    const question = event.target.closest("[data-question]");
    if (question) question.classList.remove("has-error");
    save();
    progress();
  });
  form.addEventListener("submit", (event) => {
    const missing = questions.find((q) => !q.querySelector("input:checked"));
    if (missing) {
      event.preventDefault();
      missing.classList.add("has-error");
      missing.scrollIntoView({ behavior: "smooth", block: "center" });
      const first = missing.querySelector("input");
      if (first) first.focus();
      if (text) text.textContent = "Please answer every question (" + text.textContent + ")";
      return;
    }
    save();
    // One tap, one submission: a second tap would meet the "already used" page.
    form.querySelectorAll("button[type=submit]").forEach((button) => {
      button.disabled = true;
      button.textContent = "Sending…";
    });
  });
  // Coming back with the browser's back button restores the page from its cache.
  window.addEventListener("pageshow", progress);
})();
// After sending (or when the link is closed) forget the copy kept in this tab.
(function () {
  if (document.querySelector("[data-forget-answers]")) {
    Object.keys(sessionStorage).filter((k) => k.startsWith("kc-answers-")).forEach((k) => sessionStorage.removeItem(k));
  }
})();
