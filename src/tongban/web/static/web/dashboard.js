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
