// Spares the reload: the form's own GET is fetched and its estimate and field
// messages are swapped in, so the polite live region announces them. The
// server renders both, with or without this script; the URL is kept as the
// browser would have set it, so the result stays shareable.
"use strict";

(() => {
  const form = document.getElementById("price-form");
  if (!form || !window.fetch || !window.DOMParser) {
    return;
  }

  const swapIn = (page) => {
    document.getElementById("result").innerHTML = page.getElementById("result").innerHTML;
    const focused = document.activeElement ? document.activeElement.id : "";
    form.querySelectorAll(".field").forEach((field) => {
      const control = field.querySelector("input, select");
      const fresh = page.getElementById(control.id);
      if (fresh) {
        field.replaceWith(document.importNode(fresh.closest(".field"), true));
      }
    });
    const more = page.querySelector("#price-form details");
    if (more && more.open) {
      form.querySelector("details").open = true;
    }
    const again = focused ? document.getElementById(focused) : null;
    if (again) {
      again.focus();
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = new URLSearchParams(new FormData(form)).toString();
    const url = `${form.getAttribute("action")}?${query}`;
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      swapIn(page);
      history.pushState(null, "", url);
    } catch (error) {
      window.location.assign(url);
    }
  });

  window.addEventListener("popstate", () => window.location.reload());
})();
