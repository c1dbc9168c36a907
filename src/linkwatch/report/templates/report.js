
"use strict";
(function () {
  var verdict = document.getElementById("f-verdict");
  var section = document.getElementById("f-section");
  var tag = document.getElementById("f-tag");
  var search = document.getElementById("f-search");
  var counter = document.getElementById("f-count");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#links tr.row"));
  // What the search matches: the row's words, without the sparkline's label
  // ("last 30 runs: 0 failed; newest ok"), which every row has.
  function searchText(row) {
    var parts = [];
    var walker = document.createTreeWalker(row, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        return node.nodeName.toLowerCase() === "svg" ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
      }
    });
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeType === 3) { parts.push(node.nodeValue); }
    }
    return parts.join(" ").toLowerCase();
  }
  var texts = rows.map(searchText);
  var tagsOf = rows.map(function (row) {
    try { return JSON.parse(row.getAttribute("data-tags") || "[]"); } catch (e) { return []; }
  });

  function apply() {
    var v = verdict.value, s = section.value, t = tag.value;
    var q = search.value.trim().toLowerCase();
    var words = q ? q.split(/\s+/) : [];
    var shown = 0;
    rows.forEach(function (row, i) {
      var visible = (!v || row.getAttribute("data-verdict") === v) &&
        (!s || row.getAttribute("data-section") === s) &&
        (!t || tagsOf[i].indexOf(t) !== -1) &&
        words.every(function (w) { return texts[i].indexOf(w) !== -1; });
      row.classList.toggle("hidden", !visible);
      if (visible) { shown += 1; }
    });
    var groupsVisible = {};
    document.querySelectorAll("#links section.sec").forEach(function (sec) {
      var any = sec.querySelector("tr.row:not(.hidden)") !== null;
      sec.classList.toggle("hidden", !any);
      var g = sec.getAttribute("data-group");
      groupsVisible[g] = groupsVisible[g] || any;
    });
    document.querySelectorAll("#links h2.group-heading").forEach(function (h) {
      h.classList.toggle("hidden", !groupsVisible[h.getAttribute("data-group")]);
    });
    document.querySelectorAll(".count").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-verdict") === v);
    });
    counter.textContent = shown + " of " + rows.length + " links";
  }

  function sortTable(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-sort") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var sorted = Array.prototype.slice.call(body.rows).map(function (row, i) {
      var key = row.cells[col].getAttribute("data-key") || "";
      return { row: row, key: numeric ? parseFloat(key) || 0 : key, i: i };
    });
    sorted.sort(function (a, b) {
      var c = numeric ? a.key - b.key : a.key.localeCompare(b.key);
      return c !== 0 ? c * dir : a.i - b.i;
    });
    sorted.forEach(function (item) { body.appendChild(item.row); });
  }

  [verdict, section, tag].forEach(function (el) { el.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  document.querySelectorAll(".count").forEach(function (b) {
    b.addEventListener("click", function () {
      var v = b.getAttribute("data-verdict");
      verdict.value = verdict.value === v ? "" : v;
      apply();
    });
  });
  document.querySelectorAll("#links th button").forEach(function (button) {
    button.addEventListener("click", function () { sortTable(button.closest("th")); });
  });
  apply();
})();
