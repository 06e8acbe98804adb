// The export control sends the filters of the page it sits on. The case list filters through
// htmx and only updates the address bar, so the query is read from the address when the form
// is submitted; without JavaScript the page reloads and the server-rendered value is current.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-ledger-export]")) return;
    form.elements.query.value = window.location.search.replace(/^\?/, "");
    form.elements.next.value = window.location.pathname + window.location.search;
  });
})();
