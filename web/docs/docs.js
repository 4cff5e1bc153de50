// Renders /vendor/openapi.yaml with Redoc (a classic script: Redoc's standalone bundle defines window.Redoc).
/* global Redoc */
const system = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif';
const mono = 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace';
Redoc.init('/vendor/openapi.yaml', {
  hideDownloadButton: true,
  expandResponses: '200,201',
  jsonSampleExpandLevel: 2,
  theme: {
    typography: { fontFamily: system, headings: { fontFamily: system }, code: { fontFamily: mono } },
    colors: { primary: { main: '#0b5a7a' } },
  },
}, document.getElementById('redoc'), (err) => {
  if (err) document.getElementById('redoc').textContent = `The API reference could not be rendered: ${err.message || err}`;
});
