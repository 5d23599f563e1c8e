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
