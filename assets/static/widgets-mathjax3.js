// ipywidgets 8 typesets widget labels with MathJax 2's `MathJax.Hub.Queue`; the book serves
// MathJax 3, which has no `Hub`, so every widget with a label would throw. This file is loaded
// just before the widget embedder (nb_ipywidgets_js in _config.yml) and maps that one call onto
// MathJax 3. MathJax (a deferred script) has replaced `window.MathJax` by DOMContentLoaded, and
// the embedder renders the widgets only after that, on the window's load event.
document.addEventListener("DOMContentLoaded", function () {
  var mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub || !mathjax.typesetPromise) {
    return;
  }
  mathjax.Hub = {
    Queue: function (command) {
      // command is ["Typeset", MathJax.Hub, element]
      var element = command[2];
      mathjax.startup.promise = mathjax.startup.promise.then(function () {
        return mathjax.typesetPromise(element ? [element] : undefined);
      });
    },
  };
});
