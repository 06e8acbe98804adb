// The unit and people pickers: <select data-autocomplete="URL"> becomes a tom-select that
// searches URL (cases/autocomplete.py) as the user types, 20 at a time, more on scrolling.
// Without JavaScript the select works as it is (its first options and the chosen one); the
// server checks the posted id against the user's scope either way.
(function () {
  "use strict";

  function unitSource(select) {
    var id = select.dataset.autocompleteUnit;
    return id ? document.getElementById(id) : null;
  }

  function enhance(select) {
    if (select.tomselect || typeof TomSelect === "undefined") return;
    // The page's options are for use without JavaScript: keep only the chosen one.
    Array.prototype.slice.call(select.options).forEach(function (option) {
      if (!option.selected && option.value !== "") option.remove();
    });
    var unit = unitSource(select);
    var picker = new TomSelect(select, {
      valueField: "id",
      labelField: "text",
      searchField: ["text", "detail"],
      // Several units (an inspection's inspected units): each chosen one can be removed.
      plugins: select.multiple ? ["virtual_scroll", "remove_button"] : ["virtual_scroll"],
      maxOptions: null,
      closeAfterSelect: true,
      preload: "focus",
      loadThrottle: 250,
      allowEmptyOption: true,
      placeholder: select.dataset.autocompletePlaceholder,
      firstUrl: function (query) {
        var url = new URL(select.dataset.autocomplete, window.location.href);
        url.searchParams.set("q", query);
        if (unit && unit.value) url.searchParams.set("unit", unit.value);
        return url.toString();
      },
      load: function (query, callback) {
        var self = this;
        fetch(self.getUrl(query), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
          .then(function (response) { return response.ok ? response.json() : { results: [] }; })
          .then(function (data) {
            if (data.next) self.setNextUrl(query, data.next);
            callback(data.results);
          })
          .catch(function () { callback(); });
      },
      render: {
        option: function (item, escape) {
          var detail = item.detail ? '<small class="muted"> ' + escape(item.detail) + "</small>" : "";
          return "<div>" + escape(item.text) + detail + "</div>";
        },
        item: function (item, escape) { return "<div>" + escape(item.text) + "</div>"; },
        no_results: function (data, escape) {
          return '<div class="no-results">' + escape(select.dataset.autocompleteEmpty || "—") + "</div>";
        },
        loading_more: function () { return '<div class="loading-more-results">…</div>'; },
        no_more_results: function () { return ""; },
      },
    });
    // The list belongs to the field that has the focus: tom-select ignores a blur while the
    // window itself is not focused (document.hasFocus()), which would leave it open over the
    // next field.
    picker.wrapper.addEventListener("focusout", function (event) {
      if (!picker.wrapper.contains(event.relatedTarget)) picker.close();
    });
    // A single choice is made: once the picker has finished handling the click, close the
    // list and leave the field. Until the user comes back to it (a tap or a key in it), nothing
    // opens the list again: tom-select handles the last keystrokes after a pause, and would
    // reopen the list, taking the focus, over the next field when the choice came first.
    if (!select.multiple) {
      var picked = false;
      var leave = function () {
        picker.close();
        picker.blur();
      };
      picker.on("item_add", function () {
        picked = true;
        window.setTimeout(leave, 0);
      });
      ["pointerdown", "keydown"].forEach(function (type) {
        picker.wrapper.addEventListener(type, function (event) {
          if (!picker.dropdown.contains(event.target)) picked = false;
        }, true);
      });
      picker.on("dropdown_open", function () {
        if (picked) leave();
      });
    }
    // The owner picker lists the chosen unit's people: a new unit starts it afresh.
    if (unit) {
      unit.addEventListener("change", function () {
        picker.clear();
        picker.clearOptions();
        picker.clearPagination();
      });
    }
  }

  function enhanceAll(root) {
    (root || document).querySelectorAll("select[data-autocomplete]").forEach(enhance);
  }

  document.addEventListener("DOMContentLoaded", function () { enhanceAll(document); });
  // Fragments htmx swaps in (the case body, the list's results) bring their own pickers.
  document.addEventListener("htmx:load", function (event) { enhanceAll(event.detail.elt); });
  // Rows a page adds itself (the items of a problem, static/js/registry.js).
  document.addEventListener("tracker:added", function (event) { enhanceAll(event.target); });
})();
