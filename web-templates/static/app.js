// Sherpack Registry: small enhancements; every page works without them.
"use strict";

// Autocomplete: fill the search box's datalist with name completions as the user types.
for (const input of document.querySelectorAll("input[data-autocomplete]")) {
  const list = document.getElementById(input.getAttribute("list"));
  let timer = null;
  let last = "";
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (q === last || q.length < 2) return;
      last = q;
      try {
        const r = await fetch("/api/v1/packages/autocomplete?limit=8&q=" + encodeURIComponent(q));
        if (!r.ok) return;
        const body = await r.json();
        list.replaceChildren(...body.suggestions.map((s) => {
          const option = document.createElement("option");
          option.value = s.name;
          option.label = s.namespace + "/" + s.name + (s.description ? " — " + s.description : "");
          return option;
        }));
      } catch (_) { /* offline or refused: no suggestions */ }
    }, 120);
  });
}

// Copy buttons: copy the text of the element named by data-copy (or data-copy-value), and say so.
for (const button of document.querySelectorAll("button[data-copy], button[data-copy-value]")) {
  button.addEventListener("click", async () => {
    const text = button.dataset.copyValue ?? document.getElementById(button.dataset.copy).textContent;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      copied = document.execCommand("copy");
      area.remove();
    }
    const label = button.textContent;
    button.textContent = copied ? "Copied" : "Select and copy";
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}

// Version selects switch version as soon as one is chosen (the Show button does it without JS).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}

// Icons that cannot load are removed, uncovering the generated initials beneath them.
for (const img of document.querySelectorAll("img[data-icon]")) {
  if (img.complete && img.naturalWidth === 0) img.remove();
  else img.addEventListener("error", () => img.remove());
}

// Dates in the reader's own time zone and language; the exact time stays in the tooltip.
for (const time of document.querySelectorAll("time[data-local]")) {
  const at = new Date(time.getAttribute("datetime"));
  if (!Number.isNaN(at.getTime())) time.textContent = at.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}
