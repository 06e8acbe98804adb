// The problem form's item rows: "add an item" clones the formset's empty row (a <template>)
// with the next index and counts it in TOTAL_FORMS. Without JavaScript the page offers its
// first rows and works the same; the server reads whatever rows are posted.
(function () {
  "use strict";

  function addRow(button) {
    var prefix = button.dataset.formset;
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    var template = document.getElementById(prefix + "-template");
    var rows = document.getElementById(prefix + "-rows");
    var index = parseInt(total.value, 10);
    if (max && index >= parseInt(max.value, 10)) return;
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index))
      .replace(/__number__/g, String(index + 1));
    var row = holder.firstElementChild;
    rows.appendChild(row);
    total.value = String(index + 1);
    row.dispatchEvent(new CustomEvent("tracker:added", { bubbles: true }));
    var first = row.querySelector("input, textarea");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-formset]") : null;
    if (!button) return;
    event.preventDefault();
    addRow(button);
  });
})();
