// MathJax settings for pymdownx.arithmatex (generic mode): typeset only its spans and divs.
// MathJax itself is served from assets/mathjax/ (docs/hooks/mathjax.py copies it there);
// its fonts are found beside tex-chtml.js, so nothing is fetched from elsewhere.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
