// Draws the dashboard's charts with ECharts from the figures the page carries as JSON
// (<script type="application/json" id="figures-data">). Every chart's numbers are also in a
// table beside it; clicking a bar, slice or point opens the case list filtered to it.
(function () {
  "use strict";
  var source = document.getElementById("figures-data");
  if (!source || typeof echarts === "undefined") return;
  var figures = JSON.parse(source.textContent);
  var english = document.documentElement.lang === "en";
  var text = english
    ? { rate: "Completion rate", onTime: "On-time rate", done: "Done", total: "Total" }
    : { rate: "整改完成率", onTime: "按期完成率", done: "已完成", total: "问题数" };
  var colours = { red: "#c62828", yellow: "#b26a00", green: "#2e7d32", brand: "#b71c1c" };
  var charts = [];

  function percent(value) { return Math.round(value * 1000) / 10 + "%"; }

  function open(url) { if (url) window.location.assign(url); }

  function rateBars(node, rows) {
    var horizontal = node.dataset.horizontal === "true";
    var names = rows.map(function (row) { return row.name; });
    var values = rows.map(function (row) {
      return { value: Math.round(row.rate * 1000) / 10, url: row.url, row: row };
    });
    var categoryAxis = { type: "category", data: names, axisLabel: { interval: 0, width: 120, overflow: "truncate", rotate: horizontal ? 0 : (names.length > 6 ? 30 : 0) } };
    var valueAxis = { type: "value", max: 100, axisLabel: { formatter: "{value}%" } };
    if (horizontal) { categoryAxis.inverse = true; }
    return {
      grid: { left: horizontal ? 130 : 40, right: 20, top: 20, bottom: horizontal ? 30 : 70, containLabel: !horizontal },
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          var row = p.data.row;
          // The tooltip is HTML: a unit or inspection name goes in as text.
          return echarts.format.encodeHTML(p.name) + "<br>" + text.rate + ": " + percent(row.rate) + " (" + row.done + "/" + row.total + ")";
        }
      },
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: [{ type: "bar", data: values, itemStyle: { color: colours.brand }, cursor: "pointer",
                 label: { show: true, position: horizontal ? "right" : "top", formatter: "{c}%" } }]
    };
  }

  function statusPie(node, rows) {
    return {
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      legend: { bottom: 0, type: "scroll" },
      series: [{
        type: "pie", radius: ["35%", "65%"], top: -20, cursor: "pointer",
        data: rows.filter(function (row) { return row.count > 0; })
          .map(function (row) { return { name: row.name, value: row.count, url: row.url }; })
      }]
    };
  }

  function trend(node, rows) {
    return {
      grid: { left: 45, right: 20, top: 20, bottom: 40 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v + "%"; } },
      xAxis: { type: "category", data: rows.map(function (row) { return row.day; }) },
      yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      series: [{ type: "line", name: text.rate, smooth: true, itemStyle: { color: colours.brand },
                 data: rows.map(function (row) { return Math.round(row.rate * 1000) / 10; }) }]
    };
  }

  var builders = { "rate-bars": rateBars, "status-pie": statusPie, trend: trend };

  document.querySelectorAll("[data-chart]").forEach(function (node) {
    // "units.rows": a path into the figures (the unit view is one page of a paginated list).
    var rows = node.dataset.series.split(".").reduce(function (found, key) {
      return found ? found[key] : undefined;
    }, figures) || [];
    var build = builders[node.dataset.chart];
    if (!build || rows.length === 0) { node.hidden = true; return; }
    var chart = echarts.init(node, null, { renderer: "canvas" });
    chart.setOption(build(node, rows));
    chart.on("click", function (params) { open(params.data && params.data.url); });
    node.dataset.drawn = "true";
    charts.push(chart);
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  // Printing: charts become images sized for the page.
  window.addEventListener("beforeprint", function () { charts.forEach(function (c) { c.resize(); }); });
})();
