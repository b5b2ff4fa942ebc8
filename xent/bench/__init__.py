"""The benchmark of the cross-entropy book: ``python -m xent.bench`` (``make bench``).

It times every implementation of the loss that the book discusses on the same seeded
logits and prints one table: median time of at least 7 runs, the ratio to PyTorch's
eager ``F.cross_entropy`` in the same pass, the effective bandwidth and its ratio to the
bandwidth of a plain copy measured in the same run, the peak extra memory (measured in a
fresh process, as a multiple of the logits' size) and the largest difference from a
float64 reference. Two rows per size are not losses but floors: the exponentials of
every logit alone, in NumPy and in PyTorch, a lower bound on the time of any
softmax-based forward pass in that library. The linear form is compared with the eager
composition over a sweep of chunk sizes. Compiled rows (``torch.compile`` of
``xent.torch.cross_entropy`` and of ``linear_cross_entropy``) stand beside compiled
``F.cross_entropy`` (and the compiled eager composition), with their time as a multiple
of that baseline's; ``vocab_parallel_cross_entropy`` stands beside ``loss_parallel`` on
two CPU processes. The default run takes under three minutes on two cores; ``--full``
adds the language-model sizes (about a quarter of an hour), ``--quick`` is a smoke test,
``--impl NAME`` keeps one implementation's cases. Each case is printed as it finishes;
``--json PATH`` writes the same numbers for plots.

The same pieces serve a notebook that measures its own cases (as "Cross-entropy at
scale" does): a case is a small dict (see :mod:`xent.bench.cases`)::

    from xent import bench

    case = {"kind": "linear", "impl": "chunked", "chunk_size": 64, "mode": "fwdbwd",
            "n": 256, "d": 128, "v": 8000, "device": "cpu"}
    fn, nbytes = bench.build(case)           # runs the case once on seeded data
    seconds = bench.median_time(fn)          # in this process
    (peak,) = bench.peak_memory([case])      # in a fresh process

The modules, one idea each: :mod:`~xent.bench.cases` (what is measured),
:mod:`~xent.bench.builders` (a case as a function), :mod:`~xent.bench.measure` (time and
memory), :mod:`~xent.bench.reference` (the error), :mod:`~xent.bench.parallel` (the
multi-process rows), :mod:`~xent.bench.report` (ratios and table),
:mod:`~xent.bench.suite` (the whole run). Importing this package imports no framework.
"""

from __future__ import annotations

from xent.bench.builders import build
from xent.bench.cases import Case, Row
from xent.bench.measure import copy_bandwidth, median_time, peak_memory
from xent.bench.parallel import parallel
from xent.bench.reference import max_error
from xent.bench.report import add_ratios, format_table
from xent.bench.suite import resolve_device, run

__all__ = [
    "Case",
    "Row",
    "add_ratios",
    "build",
    "copy_bandwidth",
    "format_table",
    "max_error",
    "median_time",
    "parallel",
    "peak_memory",
    "resolve_device",
    "run",
]
