"""The fresh measuring process: ``python -m xent.bench.worker PAYLOAD``.

``PAYLOAD`` is JSON: ``{"cases": [...], "threads": k}`` measures the peak memory of
each case in turn and prints ``PEAKS [...]``; ``{"parallel": {...}}`` spawns the ranks
of the vocabulary-parallel run and prints ``PARALLEL [...]`` (its rows). Started by
:func:`xent.bench.peak_memory` and :func:`xent.bench.parallel`, not by hand; no other
module imports this one, so that ``-m`` runs it only once.
"""

from __future__ import annotations

import json
import sys


def main(payload: str) -> None:
    """Run what ``payload`` asks for and print its result on one tagged line."""
    spec = json.loads(payload)
    if "parallel" in spec:
        from xent.bench.parallel import run_ranks

        print("PARALLEL " + json.dumps(run_ranks(spec["parallel"])), flush=True)
        return
    from xent.bench.measure import peaks_here

    peaks = peaks_here(spec["cases"], spec.get("threads"))
    print("PEAKS " + json.dumps(peaks), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
