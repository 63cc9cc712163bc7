// The supervision dashboard's bar chart: warnings per department, drawn by ECharts
// (installed from npm, served from node_modules) from the JSON the page carries. The
// table next to it shows the same numbers, so nothing depends on this script.
(function () {
  "use strict";
  const COLOURS = { none: "#2e7d32", yellow: "#c99700", red: "#c62828" };

  function draw(el) {
    const source = document.getElementById(el.dataset.chartSource);
    if (!source || typeof window.echarts === "undefined") return;
    const data = JSON.parse(source.textContent);
    const chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, bottom: 8, top: 32, containLabel: true },
      xAxis: { type: "category", data: data.departments, axisLabel: { interval: 0, width: 90, overflow: "truncate" } },
      yAxis: { type: "value", minInterval: 1 },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "cases", data: s.data, barMaxWidth: 48,
                 itemStyle: { color: COLOURS[s.key] } };
      }),
    });
    el.dataset.chartReady = "1";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart-source]").forEach(draw);
  });
})();

// The metrics charts: the monthly trend of every rate, the departments ranked and a map
// of the provinces for the chosen metric. Each draws the table printed beneath it.
(function () {
  "use strict";

  function option(kind, data) {
    const unit = data.unit;
    const fmt = function (v) { return v === null || v === undefined ? "—" : v + unit; };
    if (kind === "trend") {
      return {
        animation: false, tooltip: { trigger: "axis", valueFormatter: function (v) { return fmt(v); } },
        legend: { top: 0, type: "scroll" },
        grid: { left: 8, right: 16, bottom: 8, top: 40, containLabel: true },
        xAxis: { type: "category", data: data.months },
        yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        series: data.trend.map(function (s) {
          return { name: s.name, type: "line", data: s.data, connectNulls: false };
        }),
      };
    }
    if (kind === "ranking") {
      return {
        animation: false, tooltip: { trigger: "axis", valueFormatter: function (v) { return fmt(v); } },
        grid: { left: 8, right: 24, bottom: 8, top: 8, containLabel: true },
        yAxis: { type: "category", inverse: true, data: data.ranking.labels,
                 axisLabel: { width: 160, overflow: "truncate" } },
        xAxis: { type: "value", axisLabel: { formatter: "{value}" + unit } },
        series: [{ name: data.metric, type: "bar", data: data.ranking.values, barMaxWidth: 28,
                   label: { show: true, position: "right", formatter: function (p) { return fmt(p.value); } } }],
      };
    }
    const values = data.map.map(function (p) { return p.value || 0; });
    return {
      animation: false, tooltip: { trigger: "item", formatter: function (p) {
        return p.name + "：" + fmt(p.value === undefined || isNaN(p.value) ? null : p.value); } },
      visualMap: { min: 0, max: Math.max.apply(null, values.concat([unit === "%" ? 100 : 1])),
                   left: 8, bottom: 8, calculable: true, inRange: { color: ["#e3f2fd", "#0d47a1"] } },
      series: [{ name: data.metric, type: "map", map: "china", roam: false,
                 data: data.map.map(function (p) { return { name: p.name, value: p.value }; }) }],
    };
  }

  function draw(el) {
    const source = document.getElementById("metric-chart-data");
    if (!source || typeof window.echarts === "undefined") return;
    const kind = el.dataset.metricChart;
    if (kind === "map" && !window.echarts.getMap("china")) return;
    const data = JSON.parse(source.textContent);
    const chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option(kind, data));
    el.dataset.chartReady = "1";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-metric-chart]").forEach(draw);
  });
})();
