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

// Copy buttons: copy the text of the element named by data-copy, and say so.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const text = document.getElementById(button.dataset.copy).textContent;
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
