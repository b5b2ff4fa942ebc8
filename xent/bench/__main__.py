"""``python -m xent.bench [--quick | --full] [--impl NAME] [--json PATH] ...``.

Prints each case as it finishes (on stderr), then the table (on stdout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xent.bench.cases import FRAMEWORK
from xent.bench.report import format_table
from xent.bench.suite import run


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the benchmark, print the table; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m xent.bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    size.add_argument(
        "--full",
        action="store_true",
        help="also the language-model sizes, memory per case (about 15 minutes)",
    )
    parser.add_argument(
        "--impl",
        action="append",
        choices=list(FRAMEWORK),
        metavar="NAME",
        help="only this implementation's cases (repeat for more): "
        + ", ".join(FRAMEWORK),
    )
    parser.add_argument(
        "--json", type=Path, help="also write the results to this JSON file"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present), cpu or cuda"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads (default 1)"
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed runs per case (>= 7)"
    )
    parser.add_argument(
        "--compile",
        dest="compile_torch",
        action="store_true",
        default=None,
        help="include torch.compile (default: yes, except with --quick)",
    )
    parser.add_argument("--no-compile", dest="compile_torch", action="store_false")
    parser.add_argument(
        "--memory",
        choices=["per-case", "per-framework"],
        default=None,
        help="peak memory in a fresh process per case (default with --full) or per "
        "framework (faster: one process runs all cases of a framework, each after a "
        "reset)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 7:
        parser.error("--repeats must be at least 7")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    result = run(
        quick=args.quick,
        full=args.full,
        device=args.device,
        threads=args.threads,
        repeats=args.repeats,
        compile_torch=args.compile_torch,
        per_case_memory=None if args.memory is None else args.memory == "per-case",
        log=lambda line: print(line, file=sys.stderr, flush=True),
        impls=args.impl,
    )
    print(format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
