// Vigil console: the live charts and the ring graph. No inline scripts (the pages'
// Content-Security-Policy forbids them): data comes in <script type="application/json">.
"use strict";

(function () {
  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // --- dashboard: refunds per minute and alerts per detector, refreshed every 3 s ---
  const charts = {};
  function drawCharts(data) {
    if (!window.Chart || !data) return;
    const minutes = document.getElementById("chart-minutes");
    if (minutes) {
      const spec = {
        labels: data.minutes.labels,
        datasets: [
          { type: "bar", label: "refunds", data: data.minutes.refunds, yAxisID: "n", backgroundColor: "#1f5fbf" },
          { type: "line", label: "refund money ($)", data: data.minutes.money, yAxisID: "usd", borderColor: "#b3261e", pointRadius: 0 },
        ],
      };
      if (charts.minutes) { charts.minutes.data = spec; charts.minutes.update("none"); }
      else {
        charts.minutes = new Chart(minutes, {
          data: spec,
          options: {
            animation: false,
            scales: {
              x: { title: { display: true, text: "minute (UTC, wall clock; blank: before this server was watching)" } },
              n: { position: "left", beginAtZero: true, title: { display: true, text: "refunds per minute" }, ticks: { precision: 0 } },
              usd: {
                position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                title: { display: true, text: "refund money per minute ($)" },
                ticks: { callback: (v) => "$" + Number(v).toLocaleString("en-US") },
              },
            },
          },
        });
      }
    }
    const detectors = document.getElementById("chart-detectors");
    if (detectors) {
      const spec = { labels: data.detectors.labels, datasets: [{ label: "alerts", data: data.detectors.counts, backgroundColor: "#5d6778" }] };
      if (charts.detectors) { charts.detectors.data = spec; charts.detectors.update("none"); }
      else {
        charts.detectors = new Chart(detectors, {
          type: "bar", data: spec,
          options: {
            animation: false, indexAxis: "y", plugins: { legend: { display: false } },
            scales: { x: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "alerts in the index (its retention window of event time)" } } },
          },
        });
      }
    }
  }

  function pollCharts() {
    fetch("/console/dashboard/data.json", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then(drawCharts)
      .catch(() => {});
  }

  // --- case page: the ring as an interactive graph ---
  // one colour and shape per kind of entity (the page's legend uses the same colours)
  const KIND = {
    account: ["#1f5fbf", "ellipse"],
    agent: ["#b3261e", "star"],
    device: ["#e07b00", "round-rectangle"],
    card: ["#7b3fb3", "diamond"],
    payment: ["#7b3fb3", "diamond"],
    address: ["#2e7d32", "triangle"],
    ip: ["#5d6778", "hexagon"],
    email: ["#00838f", "round-tag"],
    phone: ["#8d6e00", "vee"],
  };
  function money(cents) {
    return "$" + (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function drawRing() {
    const box = document.getElementById("ring-graph");
    const elements = readJson("ring-data");
    if (!box || !elements || !window.cytoscape) return;
    const kindOf = (n) => KIND[n.data("kind")] || ["#9aa5b5", "ellipse"];
    const cy = cytoscape({
      container: box,
      elements: elements,
      // separate the clusters: strong repulsion, room between components
      layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 9000, componentSpacing: 80, idealEdgeLength: () => 60 },
      style: [
        { selector: "node", style: {
          "background-color": (n) => kindOf(n)[0], shape: (n) => kindOf(n)[1], width: 16, height: 16,
          // only accounts carry a label (their money); others show theirs on hover
          label: (n) => (n.data("amount_cents") ? money(n.data("amount_cents")) : ""),
          "font-size": 9, "text-valign": "bottom", "text-margin-y": 3,
        } },
        { selector: "node.hover, node:selected", style: { label: (n) => n.data("label") + (n.data("amount_cents") ? " · " + money(n.data("amount_cents")) : ""), "font-size": 11, "z-index": 10, "text-background-color": "#fff", "text-background-opacity": 0.9 } },
        { selector: "edge", style: { width: (e) => 1 + 3 * e.data("weight"), "line-color": "#9aa5b5" } },
        { selector: ":selected", style: { "border-width": 3, "border-color": "#1d2430" } },
      ],
    });
    window.vigilRing = cy;
    box.dataset.nodes = String(cy.nodes().length);
    box.dataset.edges = String(cy.edges().length);
    const out = document.getElementById("ring-selected");
    cy.on("mouseover", "node", (evt) => evt.target.addClass("hover"));
    cy.on("mouseout", "node", (evt) => evt.target.removeClass("hover"));
    cy.on("tap", "node", (evt) => {
      const n = evt.target;
      const links = n.neighborhood("node").map((m) => m.id()).join(", ");
      const amount = n.data("amount_cents") ? " (" + money(n.data("amount_cents")) + " of refunds in this case)" : "";
      if (out) out.textContent = n.id() + amount + " is linked to: " + links;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.getElementById("chart-data")) {
      drawCharts(readJson("chart-data"));
      setInterval(pollCharts, 3000);
    }
    drawRing();
  });
})();
