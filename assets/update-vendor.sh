#!/usr/bin/env bash
# Re-create assets/vendor/ from the npm registry: the only third-party browser code the built
# book loads. Run it to upgrade a version (edit the numbers below), then rebuild the book and
# run the browser tests. It keeps only the files the book uses, with their licences.
#
#   MathJax 3 (Apache-2.0): tex-chtml-full.js has every TeX extension built in, so it never
#     fetches an extension at run time; the CHTML output needs its woff fonts.
#   @jupyter-widgets/html-manager (BSD-3-Clause): embed.js renders saved ipywidgets state
#     (the built-in controls) without a kernel and without an AMD loader, so no require.js.
#     Its stylesheet names Font Awesome 5 fonts (SIL OFL 1.1); browsers that read woff2 never
#     ask for the other formats, so only the woff2 files are kept.
set -euo pipefail

MATHJAX_VERSION=3.2.2
HTML_MANAGER_VERSION=1.0.15
FONTAWESOME_VERSION=5.15.4 # the version html-manager's bundled CSS was built with

here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "mathjax@$MATHJAX_VERSION" "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION" \
  "@fortawesome/fontawesome-free@$FONTAWESOME_VERSION" >/dev/null
for tgz in *.tgz; do
  mkdir "${tgz%.tgz}" && tar xzf "$tgz" -C "${tgz%.tgz}"
done
mathjax="$work/mathjax-$MATHJAX_VERSION/package"
manager="$work/jupyter-widgets-html-manager-$HTML_MANAGER_VERSION/package"
fontawesome="$work/fortawesome-fontawesome-free-$FONTAWESOME_VERSION/package"

rm -rf "$vendor/mathjax" "$vendor/jupyter-widgets"
mkdir -p "$vendor/mathjax/output/chtml/fonts/woff-v2" "$vendor/jupyter-widgets"

cp "$mathjax/es5/tex-chtml-full.js" "$vendor/mathjax/"
cp "$mathjax/es5/output/chtml/fonts/woff-v2/"*.woff "$vendor/mathjax/output/chtml/fonts/woff-v2/"
cp "$mathjax/LICENSE" "$vendor/mathjax/LICENSE"

cp "$manager/dist/embed.js" "$manager/dist/embed.js.LICENSE.txt" "$manager/dist/"*.woff2 \
  "$vendor/jupyter-widgets/"
# html-manager's package carries no licence file; its licence is ipywidgets' (BSD-3-Clause).
"${PYTHON:-$here/../.venv/bin/python}" - "$vendor/jupyter-widgets/LICENSE" <<'PY'
import importlib.metadata, pathlib, sys
dist = importlib.metadata.distribution("ipywidgets")
text = next(f for f in dist.files if f.name == "LICENSE").read_text()
pathlib.Path(sys.argv[1]).write_text(text)
PY
cp "$fontawesome/LICENSE.txt" "$vendor/jupyter-widgets/LICENSE-fontawesome.txt"

echo "assets/vendor now holds:"
(cd "$vendor" && find . -type f | sort | xargs du -b | awk '{s+=$1; print} END {print s, "bytes in all"}')
