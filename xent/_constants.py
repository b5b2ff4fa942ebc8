"""Numeric constants that more than one backend uses, each defined once.

Each is PyTorch's own value, so that the three backends give PyTorch's numbers.
"""

from __future__ import annotations

__all__ = ["BCE_EPS", "BCE_LOG_MIN"]

# PyTorch's binary_cross_entropy clamps each logarithm at -100, so that a confident
# mistake (q = 0 for y = 1) costs 100 instead of infinity.
BCE_LOG_MIN = -100.0

# The floor of q (1 - q) in PyTorch's gradient of binary_cross_entropy,
# (q - y) / max(q (1 - q), eps): 1e-12 as PyTorch stores it, rounded to float32.
BCE_EPS = 9.999999960041972e-13
