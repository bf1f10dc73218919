// Draw every chart on the page from its JSON data block (the same data the API serves).
document.addEventListener("DOMContentLoaded", () => {
  for (const block of document.querySelectorAll('script[type="application/json"][id$="-data"]')) {
    const target = document.getElementById(block.id.slice(0, -5));
    const fig = JSON.parse(block.textContent);
    window.Plotly.newPlot(target, fig.data, fig.layout, { responsive: true, displaylogo: false });
  }
});
