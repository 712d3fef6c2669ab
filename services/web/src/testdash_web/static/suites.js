// A big run's page lists its suites as counts: the first time one is opened, its cases are
// fetched (same origin, server-rendered HTML) into it. Without script its link still works.
(function () {
  "use strict";
  function load(details) {
    var slot = details.querySelector(".cases");
    var link = slot.innerHTML;
    details.dataset.state = "loading";
    slot.setAttribute("aria-busy", "true");
    slot.insertAdjacentHTML("afterbegin", '<p class="muted loading">Loading…</p>');
    fetch(details.dataset.cases, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status + " " + response.statusText);
        }
        return response.text();
      })
      .then(function (html) {
        slot.innerHTML = html;
        details.dataset.state = "loaded";
      })
      .catch(function (error) {
        slot.innerHTML = link;
        var note = document.createElement("p");
        note.className = "notice bad";
        note.textContent = "Could not load the tests (" + error.message + "); close and open to retry.";
        slot.prepend(note);
        delete details.dataset.state;
      })
      .finally(function () {
        slot.removeAttribute("aria-busy");
      });
  }
  document.querySelectorAll("details.suite[data-cases]").forEach(function (details) {
    details.addEventListener("toggle", function () {
      if (details.open && !details.dataset.state) {
        load(details);
      }
    });
    if (details.open) {
      load(details);
    }
  });
})();
