// The backlog table of the impactlink HTML report: sorting, paging, filtering, drill-downs.
// Every value reaches the page through textContent or a numeric style, never as markup.
(function () {
  "use strict";
  var doc = document, root = doc.documentElement;
  var data = JSON.parse(doc.getElementById("impact-data").textContent);
  var F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var LEVELS = ["critical", "high", "medium", "low", "none"];
  var table = doc.getElementById("backlog");
  var body = table.tBodies[0];
  var state = {key: "rank", dir: 1, page: 0, size: data.pageSize, filter: ""};
  var order = data.rows.map(function (_, i) { return i; });
  var shown = order;
  var formats = {};

  function get(i, name) { var v = data.rows[i][F[name]]; return v === undefined ? null : v; }
  function num(v, digits) {
    if (v === null) return "–";
    var d = digits || 0;
    var f = formats[d] || (formats[d] = new Intl.NumberFormat("en-US",
      {maximumFractionDigits: d, minimumFractionDigits: 0}));
    return f.format(v);
  }
  function el(tag, cls, text) {
    var node = doc.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function add(parent) {
    for (var k = 1; k < arguments.length; k++) {
      var c = arguments[k];
      parent.appendChild(typeof c === "string" ? doc.createTextNode(c) : c);
    }
    return parent;
  }
  function safeUrl(url) { return typeof url === "string" && /^https?:\/\//i.test(url); }

  var KEYS = {
    rank: function (i) { return i; },
    issue: function (i) { return get(i, "issue"); },
    level: function (i) { var k = LEVELS.indexOf(get(i, "level")); return k < 0 ? null : k; },
    score: function (i) { return get(i, "score"); },
    csat: function (i) { return get(i, "csat"); },
    affected: function (i) { return get(i, "affected"); },
    arr: function (i) { return get(i, "arr_at_risk"); },
    trend: function (i) { return get(i, "delta"); },
    customers: function (i) { return get(i, "named_customers"); },
    title: function (i) { return get(i, "title"); }
  };
  // The first click sorts worst first: high scores, low CSAT, big drops.
  var FIRST = {score: -1, affected: -1, arr: -1, customers: -1};

  function sortRows(key, dir) {
    var value = KEYS[key];
    order.sort(function (a, b) {
      var x = value(a), y = value(b);
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      if (typeof x === "string") return dir * x.localeCompare(y) || a - b;
      return dir * (x - y) || a - b;
    });
  }

  function applyFilter() {
    var q = state.filter.toLowerCase();
    shown = !q ? order : order.filter(function (i) {
      return [get(i, "issue"), get(i, "title"), get(i, "features")].join(" ")
        .toLowerCase().indexOf(q) >= 0;
    });
  }

  function csatCell(i) {
    var td = el("td", "num"), c = get(i, "csat");
    if (c === null) { td.textContent = "–"; return td; }
    var lo = get(i, "csat_low"), hi = get(i, "csat_high"), bar = el("span", "bar");
    var band = el("i"), point = el("b");
    if (lo !== null && hi !== null) {
      band.style.left = lo + "%"; band.style.width = Math.max(hi - lo, 0.5) + "%";
    }
    point.style.left = "calc(" + c + "% - 1px)";
    add(bar, band, point);
    bar.title = num(c, 1) + " % (" + num(lo, 1) + "–" + num(hi, 1) + ")";
    add(td, bar, num(c, 1) + " %", el("small", "", " n=" + num(get(i, "responses"))));
    return td;
  }

  function trendCell(i) {
    var td = el("td", "num"), d = get(i, "delta");
    if (d === null) { td.textContent = "–"; return td; }
    var sig = get(i, "significant"), p = get(i, "p_value");
    var dir = d > 0 ? "up" : d < 0 ? "down" : "flat";
    var span = el("span", dir + (sig ? " sig" : ""),
      (d > 0 ? "▲ +" : d < 0 ? "▼ −" : "▬ ") + num(Math.abs(d), 1) + " pts" + (sig ? "*" : ""));
    span.title = "vs the previous window" + (p === null ? "" : ", p = " + p) +
      (sig ? " (significant at p < 0.05)" : " (not significant)");
    return add(td, span);
  }

  function arrCell(i) {
    var v = get(i, "arr_at_risk");
    return el("td", "num", v === null ? "unknown" : num(v));
  }

  function affectedCell(i) {
    var td = el("td", "num"), lo = get(i, "affected_low"), hi = get(i, "affected_high");
    add(td, num(get(i, "affected")));
    if (lo !== null && hi !== null && lo !== hi) add(td, el("small", "", " " + num(lo) + "–" + num(hi)));
    td.title = "method: " + (get(i, "method") || "–");
    return td;
  }

  function line(parent, text) { return add(parent, el("p", "", text)); }

  function drill(i) {
    var box = el("div", "drill"), t = data.thresholds;
    line(box, "Score " + num(get(i, "score"), 1) + " = reach " + num(get(i, "reach"), 2) +
      " × pain " + num(get(i, "pain"), 4) + " → " + get(i, "level") +
      (t ? " (customer base " + num(data.base) + ": critical ≥ " + num(t.critical, 1) +
        ", high ≥ " + num(t.high, 1) + ", medium ≥ " + num(t.medium, 1) + ")" : ""));
    line(box, "CSAT: " + num(get(i, "satisfied")) + " of " + num(get(i, "responses")) +
      " answers satisfied, " + num(get(i, "dissatisfied")) + " dissatisfied; " +
      num(get(i, "tickets")) + " tickets.");
    var who = "Customers: " + num(get(i, "customers_observed")) + " observed";
    if (get(i, "named_customers") !== null) who += ", " + num(get(i, "named_customers")) + " named";
    if (get(i, "attributed_customers") !== null) {
      who += ", " + num(get(i, "attributed_customers"), 2) + " attributed";
    }
    who += "; affected " + num(get(i, "affected")) + " (" + num(get(i, "affected_low")) + "–" +
      num(get(i, "affected_high")) + ", " + (get(i, "method") || "–") + ")";
    if (get(i, "linked_affected") !== null) {
      who += "; linked " + num(get(i, "linked_affected")) + " (" +
        num(get(i, "linked_affected_low")) + "–" + num(get(i, "linked_affected_high")) + ")";
    }
    line(box, who + ".");
    var arr = get(i, "arr_at_risk");
    line(box, "ARR at risk: " + (arr === null ? "unknown" : num(arr)) +
      (get(i, "linked_arr") !== null ? " (linked ARR " + num(get(i, "linked_arr")) + ")" : ""));
    if (get(i, "delta") !== null) {
      line(box, "Trend: " + num(get(i, "delta"), 1) + " pts vs " + num(get(i, "previous_csat"), 1) +
        " % in the previous window (n=" + num(get(i, "previous_responses")) + "), p = " +
        get(i, "p_value") + (get(i, "significant") ? ", significant." : ", not significant."));
    }
    line(box, "Linked by features: " + (get(i, "features") || "–") + "; references: " +
      (get(i, "references") || "–"));
    var matches = get(i, "matches") || [];
    if (matches.length) {
      add(box, el("p", "", "Strongest text matches (records by id; s = BM25 score, " +
        "a = attribution):"));
      var ul = add(box, el("ul"));
      matches.forEach(function (m) {
        var li = el("li", "", m[1] + " " + m[0] + " — a " + num(m[2], 3) + ", s " + num(m[3], 2) +
          (m[4] ? "; shared words: " + m[4] : "") + " ");
        if (m[5]) add(li, el("span", "tag", "suggested link"));
        add(ul, li);
      });
    }
    var quotes = get(i, "quotes") || [];
    if (quotes.length) {
      add(box, el("p", "", "Quotes (redacted):"));
      var qs = add(box, el("ul"));
      quotes.forEach(function (q) { add(qs, add(el("li"), el("q", "", q))); });
    }
    var segments = get(i, "segments") || [];
    if (segments.length) {
      line(box, "Segments: " + segments.map(function (s) {
        return s[0] + "=" + s[1] + " " + (s[2] ? num(100 * s[3] / s[2], 1) + " %" : "–") +
          " (n=" + s[2] + ")";
      }).join(" · "));
    }
    return box;
  }

  function titleCell(i) {
    var td = el("td"), details = el("details"), summary = el("summary", "", get(i, "title") || "(no title)");
    add(details, summary);
    details.addEventListener("toggle", function () {
      if (details.open && details.childNodes.length === 1) add(details, drill(i));
    });
    return add(td, details);
  }

  function row(i) {
    var tr = el("tr", get(i, "level")), link;
    var url = get(i, "url");
    if (safeUrl(url)) {
      link = el("a", "", get(i, "issue"));
      link.href = url; link.rel = "noopener"; link.target = "_blank";
    } else {
      link = doc.createTextNode(get(i, "issue"));
    }
    var named = get(i, "named_customers"), attributed = get(i, "attributed_customers");
    add(tr, el("td", "num", i + 1), add(el("td"), link),
      add(el("td"), el("span", "lv " + get(i, "level"), get(i, "level"))),
      el("td", "num", num(get(i, "score"), 1)), csatCell(i), affectedCell(i), arrCell(i),
      trendCell(i),
      el("td", "num", named === null && attributed === null ? "–" :
        num(named) + " / " + num(attributed, 1)),
      titleCell(i));
    tr.dataset.issue = get(i, "issue");
    return tr;
  }

  function render() {
    var pages = Math.max(1, Math.ceil(shown.length / state.size));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    var slice = shown.slice(state.page * state.size, (state.page + 1) * state.size);
    var fresh = doc.createDocumentFragment();
    slice.forEach(function (i) { fresh.appendChild(row(i)); });
    body.textContent = "";
    body.appendChild(fresh);
    doc.getElementById("page-info").textContent = "Page " + (state.page + 1) + " of " + pages +
      " · " + num(shown.length) + " of " + num(data.rows.length) + " issues";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.dataset.key === state.key) {
        th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
    table.dataset.sortKey = state.key;
    table.dataset.sortDir = state.dir > 0 ? "asc" : "desc";
    table.dataset.order = JSON.stringify(slice.map(function (i) { return get(i, "issue"); }));
  }

  function sortOn(key) {
    state.dir = state.key === key ? -state.dir : (FIRST[key] || 1);
    state.key = key;
    sortRows(state.key, state.dir);
    applyFilter();
    state.page = 0;
    render();
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () { sortOn(th.dataset.key); });
  });
  doc.getElementById("prev").addEventListener("click", function () { state.page--; render(); });
  doc.getElementById("next").addEventListener("click", function () { state.page++; render(); });
  doc.getElementById("page-size").addEventListener("change", function (e) {
    state.size = Number(e.target.value); state.page = 0; render();
  });
  doc.getElementById("filter").addEventListener("input", function (e) {
    state.filter = e.target.value; applyFilter(); state.page = 0; render();
  });
  var picker = doc.getElementById("segment-issue");
  if (picker) {
    picker.addEventListener("change", function () {
      Array.prototype.forEach.call(doc.querySelectorAll("figure.segfig"), function (f) {
        f.hidden = f.dataset.issue !== picker.value;
      });
    });
  }
  render();
  // Test hooks: #test-sort=KEY clicks that column's header; test-open=1 opens the first drill-down.
  var hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("test-sort")) {
    var th = table.querySelector('th[data-key="' + hash.get("test-sort").replace(/\W/g, "") + '"]');
    if (th) th.click();
  }
  if (hash.get("test-open")) {
    var first = body.querySelector("details");
    if (first) { first.open = true; if (first.childNodes.length === 1) first.dispatchEvent(new Event("toggle")); }
  }
  root.dataset.ready = "1";
})();
