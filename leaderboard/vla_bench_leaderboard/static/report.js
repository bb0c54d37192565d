// Sorting, suite filter and drill-down for the leaderboard page. Reads data-* attributes and
// moves existing elements; it never builds HTML from data, so escaped text stays text.
(function () {
  "use strict";

  function sortValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell ? (cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim()) : "";
    if (raw === "") return null;
    if (!numeric) return raw.toLowerCase();
    var v = parseFloat(raw);
    return isNaN(v) ? null : v;
  }

  function sortTable(table, header) {
    var index = Array.prototype.indexOf.call(header.parentNode.children, header);
    var numeric = header.getAttribute("data-type") === "num";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    // a main row travels with the detail row that follows it
    var pairs = [];
    Array.prototype.forEach.call(body.rows, function (row) {
      if (row.classList.contains("detail") && pairs.length) pairs[pairs.length - 1].push(row);
      else pairs.push([row]);
    });
    pairs.forEach(function (pair, i) { pair.order = i; });
    pairs.sort(function (a, b) {
      var x = sortValue(a[0], index, numeric), y = sortValue(b[0], index, numeric);
      if (x === null && y === null) return a.order - b.order;
      if (x === null) return 1;  // missing values last, whichever the direction
      if (y === null) return -1;
      if (x < y) return ascending ? -1 : 1;
      if (x > y) return ascending ? 1 : -1;
      return a.order - b.order;
    });
    pairs.forEach(function (pair) { pair.forEach(function (row) { body.appendChild(row); }); });
    Array.prototype.forEach.call(header.parentNode.children, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.tHead.querySelectorAll("th:not(.nosort)").forEach(function (th) {
      th.tabIndex = 0;  // sortable from the keyboard too
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortTable(table, th);
        }
      });
    });
  });

  document.querySelectorAll("button.toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var detail = document.getElementById(button.getAttribute("aria-controls"));
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      detail.hidden = !open;
    });
  });

  var buttons = document.querySelectorAll(".filter button");
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      var suite = button.getAttribute("data-filter");
      buttons.forEach(function (b) { b.classList.toggle("on", b === button); });
      document.querySelectorAll(".group[data-suite]").forEach(function (el) {
        el.hidden = suite !== "" && el.getAttribute("data-suite") !== suite;
      });
    });
  });
})();
