"""Tests of ``xent.widgets``: the kernel-free animation and the live ipywidgets view."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

from xent import widgets as xw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def draw_line(fig, value):
    """A figure whose pixels depend on ``value`` (fixed limits, as the docs ask)."""
    ax = fig.subplots()
    ax.plot([0, 1], [0, value], linewidth=4)
    ax.set(xlim=(0, 1), ylim=(-1, 3))


def frames_of(html: str) -> list[bytes]:
    """The PNG frames that matplotlib's jshtml embeds, decoded, in order."""
    encoded = re.findall(r'frames\[(\d+)\] = "data:image/png;base64,([^"]*)"', html)
    assert [int(i) for i, _ in encoded] == list(range(len(encoded)))
    return [base64.b64decode(data.replace("\\n", "")) for _, data in encoded]


def scrub(values, **kwargs):
    return xw.scrubbable(
        draw_line, values, label="v", figsize=(2.0, 1.5), dpi=50, **kwargs
    )


def test_scrubbable_has_a_slider_an_image_and_one_frame_per_value():
    html = scrub([0.0, 0.5, 1.0, 1.5, 2.0]).data
    assert len(re.findall(r'<input[^>]*type="range"', html)) == 1
    assert len(re.findall(r"<img id=\"_anim_img", html)) == 1
    assert "new Array(5)" in html
    frames = frames_of(html)
    assert len(frames) == 5
    assert all(frame.startswith(PNG_SIGNATURE) for frame in frames)


def test_scrubbable_frames_follow_the_values_in_order():
    frames = frames_of(scrub([0.0, 2.0, 0.0]).data)
    assert frames[0] == frames[2], "the same value must give the same frame"
    assert frames[0] != frames[1], "different values must give different frames"


def test_scrubbable_calls_draw_frame_once_per_value_and_titles_the_figure():
    calls = []

    def draw(fig, value):
        calls.append((fig, value))
        draw_line(fig, value)

    xw.scrubbable(
        draw, [1, 2.5, 3], label="tilt", fmt="{:.1f}", figsize=(2, 1.5), dpi=50
    )
    assert [value for _, value in calls] == [1.0, 2.5, 3.0]
    assert all(isinstance(value, float) for _, value in calls)
    fig = calls[-1][0]
    assert fig.get_suptitle() == "tilt = 3.0"
    assert len(fig.axes) == 1, "each frame must start from an empty figure"


def test_scrubbable_needs_no_external_script_and_plays_once():
    html = scrub([0.0, 1.0]).data
    assert "<script src" not in html.replace("\n", " ")
    assert re.search(r'value="once" id="[^"]*"\s*checked', html), (
        "play mode must be 'once'"
    )


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([], "at least one"),
        ([0.0, float("nan")], "finite"),
        (range(xw.MAX_FRAMES + 1), "at most"),
    ],
)
def test_scrubbable_rejects_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        scrub(values)


def test_scrubbable_leaves_no_figure_in_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    scrub([0.0, 1.0])
    assert plt.get_fignums() == before


def test_live_slider_redraws_the_image():
    import ipywidgets

    calls = []

    def draw(fig, value):
        calls.append(value)
        draw_line(fig, value)

    view = xw.live(draw, [0.0, 1.0, 2.0], label="v", figsize=(2, 1.5), dpi=50)
    slider, image = view.children
    assert isinstance(slider, ipywidgets.FloatSlider)
    assert isinstance(image, ipywidgets.Image)
    assert (slider.min, slider.max, slider.value, slider.description) == (
        0.0,
        2.0,
        0.0,
        "v",
    )
    assert slider.step == pytest.approx(0.02)
    first = bytes(image.value)
    assert first.startswith(PNG_SIGNATURE)

    slider.value = 2.0
    assert calls == [0.0, 2.0]
    assert bytes(image.value) != first
    slider.value = 0.0
    assert bytes(image.value) == first


def test_live_step_and_errors():
    view = xw.live(draw_line, [1, 40], label="n", step=1, figsize=(2, 1.5), dpi=50)
    assert view.children[0].step == 1
    with pytest.raises(ValueError, match="step"):
        xw.live(draw_line, [0.0, 1.0], label="v", step=0)
    with pytest.raises(ValueError, match="at least one"):
        xw.live(draw_line, [], label="v")


def test_importing_widgets_imports_no_plotting_or_framework():
    code = (
        "import sys, xent, xent.widgets; "
        "print(sorted(m for m in ('matplotlib', 'IPython', 'ipywidgets', "
        "'torch', 'tensorflow')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
