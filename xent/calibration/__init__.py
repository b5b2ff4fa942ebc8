r"""Is a predicted probability of 0.8 right 80% of the time? Measures and a fix.

The shape of ``probs`` chooses between the two reliability diagrams of the chapter
"Evaluating probabilities", so pass the kind you mean:

* **binary**: ``probs`` of shape ``(n,)``, the probability of class 1, with ``y`` in
  {0, 1}; a bin's confidence is the mean of ``probs`` and its accuracy the fraction of
  ``y == 1`` (the classic reliability diagram of a probability forecast). For a model
  with two outputs, pass ``probs[:, 1]`` to get this one.
* **multi-class** (top-label): ``probs`` of shape ``(n, C)``, rows summing to one, with
  ``y`` class indices; a bin's confidence is the mean top probability
  :math:`\max_c q_c` and its accuracy the fraction of rows whose top class is ``y``
  (Guo et al., 2017). For ``C = 2`` the confidences lie in [1/2, 1], and the value is in
  general not the binary one: never compare the two kinds.

Bins are of equal width on [0, 1]: bin :math:`b` holds the confidences in
:math:`((b-1)/B, b/B]`, the first bin also 0. Both ECEs lie in [0, 1]; the binary Brier
score in [0, 1], the multi-class one (Brier's sum over classes) in [0, 2].

Three fixes are fitted on validation data: temperature scaling (binary or multi-class),
and, for binary classifiers only, Platt scaling (an affine map of the logit) and
isotonic regression (a monotone step map of the probability). The Brier score's
reliability-resolution-uncertainty decomposition (Murphy, 1973) is binary too.
"""

from __future__ import annotations

from xent.calibration._binary import (
    IsotonicMap,
    apply_isotonic,
    apply_platt,
    fit_isotonic,
    fit_platt,
)
from xent.calibration._measures import (
    BrierDecomposition,
    ReliabilityBins,
    brier_decomposition,
    brier_score,
    expected_calibration_error,
    reliability_bins,
)
from xent.calibration._temperature import (
    fit_temperature,
    negative_log_likelihood,
    probabilities,
)

__all__ = [
    "ReliabilityBins",
    "reliability_bins",
    "expected_calibration_error",
    "brier_score",
    "negative_log_likelihood",
    "probabilities",
    "fit_temperature",
    "fit_platt",
    "apply_platt",
    "IsotonicMap",
    "fit_isotonic",
    "apply_isotonic",
    "BrierDecomposition",
    "brier_decomposition",
]
