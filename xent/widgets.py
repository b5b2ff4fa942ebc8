"""Interactive figures that work both with a running Python and in the static book.

A slider wired to a Python function (``ipywidgets.interact``) needs a kernel: in the
built HTML book nobody is there to call the function. So each interactive figure here is
made from one drawing function, ``draw_frame(fig, value)``, in two ways:

- :func:`scrubbable` draws the figure once per value *ahead of time* and returns an HTML
  animation (matplotlib's ``to_jshtml``) whose slider swaps between the saved frames.
  Its JavaScript and images are inline, so it works in a static page, offline, with no
  kernel.
- :func:`live` returns an ``ipywidgets`` slider that redraws the figure for any value,
  in Jupyter or Colab.

Both put ``label = value`` above the figure, so the two views read the same, and both
name their slider by ``label``. The animation's image has alternative text (``alt``,
plus the frame's ``label = value``) that follows the slider, for readers who cannot see
it. matplotlib, IPython and ipywidgets are imported only when these functions run, so
``import xent.widgets`` costs nothing; neither PyTorch nor TensorFlow is imported here.

Example (in a notebook, ``draw`` being any function that draws on a figure)::

    from xent import widgets as xw
    xw.scrubbable(draw, np.linspace(0, 1, 21), label="alpha")  # for the book
    xw.live(draw, np.linspace(0, 1, 21), label="alpha")        # for a live kernel
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.display import HTML
    from matplotlib.figure import Figure

__all__ = ["MAX_FRAMES", "scrubbable", "live"]

# Every frame is a PNG inside the page (roughly 20 kB each): a few dozen keep it light.
MAX_FRAMES = 60

DrawFrame = Callable[["Figure", float], Any]

# Keeps the animation's alt text and the slider's spoken value on the frame shown: the
# jshtml player swaps the image's src (on a slider move, a button, or while playing).
_NAME_FRAMES = """<script>
(function () {
  var img = document.getElementById("_anim_img%(id)s");
  var slider = document.getElementById("_anim_slider%(id)s");
  var alt = %(alt)s, frames = %(frames)s;
  function name() {
    var text = frames[Math.min(frames.length - 1, Math.max(0, +slider.value || 0))];
    img.alt = alt + " " + text + ".";
    slider.setAttribute("aria-valuetext", text);
  }
  new MutationObserver(name).observe(img, {attributes: true, attributeFilter: ["src"]});
  slider.addEventListener("input", name);
})();
</script>
"""


def _checked_values(values: Sequence[float], max_frames: int) -> list[float]:
    """The slider's values as floats: one to ``max_frames`` of them, all finite."""
    import math

    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one value; got none")
    if len(values) > max_frames:
        raise ValueError(
            f"values must hold at most {max_frames} values (one frame each); "
            f"got {len(values)}"
        )
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite numbers; got {values}")
    return values


def _new_figure(figsize: tuple[float, float], dpi: float) -> Figure:
    # A bare Figure, not pyplot's: nothing is registered globally, so nothing is shown
    # twice by the notebook's inline backend and nothing needs closing.
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def _draw(
    fig: Figure, draw_frame: DrawFrame, value: float, label: str, fmt: str
) -> None:
    """Clear ``fig``, let ``draw_frame`` draw the figure for ``value``, and title it."""
    fig.clear()
    draw_frame(fig, value)
    fig.suptitle(f"{label} = {fmt.format(value)}")


def scrubbable(
    draw_frame: DrawFrame,
    values: Sequence[float],
    *,
    label: str,
    fmt: str = "{:.2f}",
    figsize: tuple[float, float] = (7.0, 3.2),
    dpi: float = 72,
    interval_ms: int = 250,
    max_frames: int = MAX_FRAMES,
    alt: str | None = None,
) -> HTML:
    """A figure with a slider that needs no kernel: one frame drawn ahead per value.

    ``draw_frame(fig, value)`` draws on an empty :class:`matplotlib.figure.Figure`; it
    is called once per entry of ``values``, in order (keep axis limits fixed across
    values, or the frames jump). The frames become a matplotlib ``to_jshtml`` animation:
    an ``<img>``, an ``<input type="range">`` slider, play buttons, and every frame as
    an inline PNG, with no external script or request.

    ``alt`` says what the figure shows, for readers who cannot see it (default: "Figure
    for each value of {label}, chosen with the slider below:"); the image's alt text is
    ``alt`` followed by the frame's ``label = value``, and follows the slider. The
    slider is labelled ``label`` and speaks the same ``label = value``.

    Returns an :class:`IPython.display.HTML` object (shown when it ends a notebook cell;
    its ``.data`` is the HTML string). Raises ``ValueError`` when ``values`` is empty,
    not finite, or longer than ``max_frames``, or ``alt`` is given but empty.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    values = _checked_values(values, max_frames)
    if alt is not None and not (isinstance(alt, str) and alt.strip()):
        raise ValueError(f"alt must be a non-empty string; got {alt!r}")
    fig = _new_figure(figsize, dpi)

    def update(i: int) -> None:
        _draw(fig, draw_frame, values[i], label, fmt)

    # init_func draws nothing extra: the first frame is drawn once, by the writer.
    animation = FuncAnimation(
        fig,
        update,
        frames=len(values),
        init_func=lambda: None,
        interval=interval_ms,
        repeat=False,
    )
    html = animation.to_jshtml(default_mode="once")
    return HTML(_with_names(html, label, fmt, values, alt))


def _with_names(
    html: str, label: str, fmt: str, values: list[float], alt: str | None
) -> str:
    """The jshtml player with alt text on its image and a label on its slider."""
    import html as html_lib
    import json
    import re

    (anim_id,) = set(re.findall(r'id="_anim_img(\w+)"', html))
    if alt is None:
        alt = f"Figure for each value of {label}, chosen with the slider below:"
    frames = [f"{label} = {fmt.format(value)}" for value in values]
    first = html_lib.escape(f"{alt} {frames[0]}.", quote=True)
    html = html.replace(
        f'<img id="_anim_img{anim_id}">',
        f'<img id="_anim_img{anim_id}" alt="{first}">',
        1,
    )
    html = html.replace(
        f'<input id="_anim_slider{anim_id}" type="range"',
        f'<input id="_anim_slider{anim_id}" type="range"'
        f' aria-label="{html_lib.escape(label, quote=True)}"'
        f' aria-valuetext="{html_lib.escape(frames[0], quote=True)}"',
        1,
    )
    # json.dumps escapes nothing HTML-special; "</" would end the script early
    script = _NAME_FRAMES % {
        "id": anim_id,
        "alt": json.dumps(alt).replace("</", "<\\/"),
        "frames": json.dumps(frames).replace("</", "<\\/"),
    }
    return html + script


def live(
    draw_frame: DrawFrame,
    values: Sequence[float],
    *,
    label: str,
    fmt: str = "{:.2f}",
    step: float | None = None,
    figsize: tuple[float, float] = (7.0, 3.2),
    dpi: float = 96,
) -> Any:
    """The same figure with a live ``ipywidgets`` slider: Python redraws it per move.

    The slider runs from ``min(values)`` to ``max(values)`` in steps of ``step`` (by
    default a hundredth of that range) and starts at ``values[0]``, like
    :func:`scrubbable`. The figure is shown as an ``ipywidgets.Image`` whose PNG is
    replaced on each change, so it works in any front end that shows widgets (Jupyter,
    JupyterLab, VS Code, Colab). It needs a running kernel: in a static page the slider
    would not move the figure.

    Returns an ``ipywidgets.VBox`` holding the ``FloatSlider`` and the ``Image``.
    Raises ``ValueError`` as :func:`scrubbable` does, and for a non-positive ``step``.
    """
    import io

    import ipywidgets as widgets

    values = _checked_values(values, max_frames=10**6)
    low, high = min(values), max(values)
    if step is None:
        step = (high - low) / 100 if high > low else 1.0
    if not step > 0:
        raise ValueError(f"step must be positive; got {step}")
    fig = _new_figure(figsize, dpi)

    def png(value: float) -> bytes:
        _draw(fig, draw_frame, value, label, fmt)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()

    slider = widgets.FloatSlider(
        value=values[0],
        min=low,
        max=high,
        step=step,
        description=label,
        continuous_update=True,
        readout_format=".3g",
        style={"description_width": "initial"},
        layout=widgets.Layout(width="min(100%, 32rem)"),
    )
    image = widgets.Image(value=png(slider.value), format="png")
    slider.observe(
        lambda change: setattr(image, "value", png(change["new"])), names="value"
    )
    return widgets.VBox([slider, image])
