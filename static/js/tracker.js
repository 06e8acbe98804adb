// Small progressive enhancements; every page works without them. No inline scripts anywhere.
(function () {
  "use strict";
  // "Select all" checkbox of the case list: <input type="checkbox" data-select-all="cases">.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    var form = box.closest("form");
    form.querySelectorAll('input[type="checkbox"][name="' + box.dataset.selectAll + '"]')
      .forEach(function (item) { item.checked = box.checked; });
  });
})();
