// Draw every chart on the page from its JSON data block (the same data the API serves), on load
// and again after htmx swaps in new content (the filter form) or restores a page from history.
(() => {
  if (window.cxlensApp) return; // loaded once even if a page includes it again
  window.cxlensApp = true;

  function draw(root) {
    if (!window.Plotly) return;
    const scope = root && root.querySelectorAll ? root : document;
    for (const block of scope.querySelectorAll('script[type="application/json"][id$="-data"]')) {
      const target = document.getElementById(block.id.slice(0, -5));
      if (!target) continue;
      const fig = JSON.parse(block.textContent);
      // a chart keeps the width its labels need (layout.meta.minWidth, set by the chart rules);
      // on a narrower screen its frame scrolls sideways instead of piling or cutting labels
      const minWidth = fig.layout && fig.layout.meta && fig.layout.meta.minWidth;
      if (minWidth) target.style.minWidth = `${minWidth}px`;
      window.Plotly.newPlot(target, fig.data, fig.layout, { responsive: true, displaylogo: false });
    }
  }

  window.cxlensDraw = draw;
  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.addEventListener("htmx:afterSettle", (event) => draw(event.detail.elt));
  document.addEventListener("htmx:historyRestore", () => draw(document));
})();
