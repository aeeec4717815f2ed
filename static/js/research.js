// The research page: computing the figures can take seconds, so after "Show preview" the page says it is busy.
// Without JavaScript the page works the same, only without this message.
(function () {
  "use strict";
  function init() {
    var form = document.getElementById("research-form");
    var status = document.getElementById("research-busy");
    var main = document.getElementById("main");
    if (!form || !status) {
      return;
    }
    form.addEventListener("submit", function () {
      form.setAttribute("aria-busy", "true");
      if (main) {
        main.setAttribute("aria-busy", "true");
      }
      status.textContent = status.getAttribute("data-busy-text");
    });
    // Coming back to this page (the browser's back button) must not show it as still busy.
    window.addEventListener("pageshow", function () {
      form.removeAttribute("aria-busy");
      if (main) {
        main.removeAttribute("aria-busy");
      }
      status.textContent = "";
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
