"""The figures the notebooks share, drawn with matplotlib, each with a title and labels.

Each function draws on ``ax`` when given (to combine panels) or on a new figure, and
returns the axes. Inputs are plain NumPy arrays or a run's history (a list of dicts, as
:func:`xent.tracking.read_history` returns), so the same figure works for every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent.calibration import expected_calibration_error, reliability_bins

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_history", "plot_decision_regions", "plot_reliability"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(5.5, 4))[1]


def _ylabel(keys: Sequence[str]) -> str:
    if all(k.endswith("loss") for k in keys):
        return "loss"
    if all(k.endswith("accuracy") for k in keys):
        return "accuracy"
    return ", ".join(keys)


def plot_history(
    history: Sequence[dict[str, Any]],
    keys: Sequence[str] = ("train_loss", "val_loss"),
    *,
    ax: Axes | None = None,
    label: str | None = None,
    title: str | None = None,
    logy: bool = False,
) -> Axes:
    """Curves of the logged metrics ``keys`` against ``epoch`` (else against ``_step``).

    ``label`` prefixes each curve's legend entry, to tell runs apart on shared axes.
    Raises ``ValueError`` for an empty history, an empty ``keys`` or a key never logged.

    >>> history = [{"epoch": 0, "val_loss": 1.0}, {"epoch": 1, "val_loss": 0.5}]
    >>> ax = plot_history(history, keys=["val_loss"])
    >>> ax.get_xlabel(), ax.get_ylabel(), ax.get_title()
    ('epoch', 'loss', 'Training history')
    """
    if len(history) == 0:
        raise ValueError("history must hold at least one logged row")
    if isinstance(keys, str) or len(keys) == 0:
        raise ValueError(f"keys must be a non-empty list of metric names; got {keys!r}")
    missing = [k for k in keys if not any(k in row for row in history)]
    if missing:
        raise ValueError(
            f"keys {missing} were never logged; logged: {sorted(history[0])}"
        )
    ax = _axes(ax)
    x_key = "epoch" if all("epoch" in row for row in history) else "_step"
    for key in keys:
        rows = [row for row in history if key in row]
        x = [row.get(x_key, i) for i, row in enumerate(rows)]
        ax.plot(
            x, [row[key] for row in rows], label=f"{label}: {key}" if label else key
        )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel(_ylabel(keys))
    ax.set_title(title or "Training history")
    ax.legend()
    return ax


def plot_decision_regions(
    predict_proba: Callable[[NDArray], ArrayLike],
    X: ArrayLike,
    y: ArrayLike,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    resolution: int = 200,
    margin: float = 0.5,
) -> Axes:
    """The class a 2-D classifier predicts over the plane, with the points ``X`` on top.

    ``predict_proba`` maps ``(m, 2)`` float32 inputs to probabilities ``(m, C)``, or
    ``(m,)`` probabilities of class 1 for a binary classifier. The colour of a region is
    its predicted class; its strength is the model's confidence (the top probability),
    so the uncertain band along each boundary fades to white. Raises ``ValueError``
    unless ``X`` is ``(n, 2)`` with one integer label per row, or for
    ``resolution < 2``.
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(
            f"X must have shape (n, 2), points in the plane; got {X.shape}"
        )
    if y.shape != X.shape[:1] or y.dtype.kind not in "iu":
        raise ValueError(
            f"y must hold {len(X)} integer class labels; got shape {y.shape}"
        )
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, int)
        or resolution < 2
    ):
        raise ValueError(f"resolution must be an integer >= 2; got {resolution!r}")
    ax = _axes(ax)

    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(*(np.linspace(low[i], high[i], resolution) for i in range(2)))
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)  # (m, 2)
    probs = np.asarray(predict_proba(grid), dtype=np.float64)
    if probs.ndim == 1:
        probs = np.stack([1 - probs, probs], axis=1)  # (m, 2)
    num_classes = max(probs.shape[1], int(y.max()) + 1)
    colours = plt.get_cmap("tab10")(np.arange(num_classes) % 10)[:, :3]  # (C, 3)

    # Blend each grid point's class colour with white by its confidence: (m, 3) RGB.
    top = probs.argmax(axis=1)
    strength = (probs.max(axis=1) - 1 / probs.shape[1]) / (1 - 1 / probs.shape[1])
    rgb = 1 - 0.45 * strength[:, None] * (1 - colours[top])
    ax.imshow(
        rgb.reshape(resolution, resolution, 3),
        origin="lower",
        extent=(low[0], high[0], low[1], high[1]),
        aspect="auto",
        interpolation="bilinear",
    )
    for c in range(num_classes):
        points = X[y == c]
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=14,
            color=colours[c],
            edgecolor="black",
            linewidth=0.4,
            label=f"class {c}",
        )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or "Decision regions")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_reliability(
    probs: ArrayLike,
    y: ArrayLike,
    n_bins: int = 10,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    label: str = "model",
) -> Axes:
    """Reliability diagram: accuracy against confidence in equal bins, and the ECE.

    Bars show each bin's accuracy (binary: fraction of positives) at its place on the
    confidence axis; the dashed diagonal is perfect calibration; dots mark the mean
    confidence in each bin. Bars below the diagonal mean over-confidence. The legend
    gives the expected calibration error on the same bins. ``probs`` and ``y`` as in
    :func:`xent.calibration.reliability_bins`, which raises ``ValueError`` for bad
    input.
    """
    bins = reliability_bins(probs, y, n_bins)
    ece = expected_calibration_error(probs, y, n_bins)
    ax = _axes(ax)
    centres = (bins.edges[:-1] + bins.edges[1:]) / 2
    filled = bins.counts > 0
    width = bins.edges[1] - bins.edges[0]
    ax.bar(
        centres[filled],
        bins.accuracy[filled],
        width=width,
        edgecolor="black",
        alpha=0.7,
        label=f"{label} (ECE = {ece:.3f})",
    )
    ax.plot(
        centres[filled],
        bins.confidence[filled],
        "o",
        color="black",
        markersize=3,
        label="mean confidence in bin",
    )
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    binary = np.asarray(probs).ndim == 1
    ax.set_xlabel(
        "predicted probability of class 1" if binary else "confidence (top probability)"
    )
    ax.set_ylabel("fraction of class 1" if binary else "accuracy")
    ax.set_title(title or "Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return ax
