"""Every "(tested)" cell of chapter 10's table of peers, run.

The section "The peers side by side" of ``10-language-model-training.md`` has a Markdown
table whose header row names the columns (``F.cross_entropy``, it under
``loss_parallel()``, Liger-Kernel, Cut Cross-Entropy, ``xent.torch``) and whose first
cell names the row. ``CHECKS`` maps each (row, column) whose cell says "(tested)" to the
cell's text and to a small function that runs what the cell claims on tiny CPU inputs
and asserts it. The tests fail when the table is gone, when a "(tested)" cell has no
check (or a check no longer has its "(tested)" cell), when a cell's wording changed
since its check was written, and when a check disagrees with the behaviour.

The cells about ``loss_parallel`` are shown in one in-process gloo world of one rank (a
free loopback port, destroyed after the module): DTensor's sharding rules do not depend
on the number of ranks, so its refusals show there. That classes are really split over
several ranks is run by ``tests/test_vocab_parallel.py`` on 2 and 4 spawned processes;
those checks assert that the test module still defines the named test and helpers that
run it, rather than spawning processes again.
"""

from __future__ import annotations

import datetime
import inspect
import re
import socket
from collections.abc import Callable

import pytest
from _chapter_numbers import CHAPTERS

torch = pytest.importorskip("torch")
F = torch.nn.functional
from xent import torch as xt  # noqa: E402

LM = "10-language-model-training.md"
PLAIN = "`F.cross_entropy`"
PARALLEL = "`F.cross_entropy` in `loss_parallel()`"
XENT = "`xent.torch`"
TESTED = "(tested)"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table() -> dict[tuple[str, str], str]:
    """The peers table of the chapter: (row name, column name) -> cell text."""
    lines = (CHAPTERS / LM).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines[:-1]):
        if not line.startswith("|") or XENT not in line:
            continue
        if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            continue
        header = _cells(line)
        found = {}
        for row in lines[i + 2 :]:
            if not row.startswith("|"):
                break
            cells = _cells(row)
            assert len(cells) == len(header), f"{LM}: a row of {len(cells)} cells"
            found.update(
                {
                    (cells[0], col): c
                    for col, c in zip(header[1:], cells[1:], strict=True)
                }
            )
        return found
    return {}


def _tested() -> dict[tuple[str, str], str]:
    return {key: cell for key, cell in table().items() if TESTED in cell}


def _data(seed=0, rows=6, classes=7, ignored=True):
    g = torch.Generator().manual_seed(seed)
    z = 4 * torch.randn(rows, classes, dtype=torch.float64, generator=g)
    y = torch.randint(0, classes, (rows,), generator=g)
    if ignored:
        y[::3] = -100
    w = torch.rand(classes, dtype=torch.float64, generator=g) + 0.5
    return z, y, w


def _same(got_fn: Callable, want_fn: Callable, z) -> None:
    """Equal losses and equal gradients with respect to ``z``."""
    a = z.clone().requires_grad_()
    b = z.clone().requires_grad_()
    got, want = got_fn(a), want_fn(b)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    got.backward()
    want.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


# ---- loss_parallel in a world of one rank ------------------------------------------


@pytest.fixture(scope="module")
def mesh():
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():  # pragma: no cover
        pytest.skip("torch.distributed is not available in this build")
    if dist.is_initialized():  # pragma: no cover
        pytest.skip("a process group is already initialised in this process")
    from torch.distributed.device_mesh import init_device_mesh

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=0,
        world_size=1,
        timeout=datetime.timedelta(seconds=30),
    )
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def _parallel(mesh, z, y, **options):
    """Loss under ``loss_parallel()`` of ``z`` sharded along its classes, and ``z``."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    from torch.distributed.tensor.parallel import loss_parallel

    peer = distribute_tensor(z, mesh, [Shard(1)]).requires_grad_()
    with loss_parallel():
        loss = F.cross_entropy(
            peer, distribute_tensor(y, mesh, [Replicate()]), **options
        )
    return loss, peer


def _backward(loss):
    from torch.distributed.tensor.parallel import loss_parallel

    with loss_parallel():
        loss.backward()


def _vocab_parallel_module():
    """``tests/test_vocab_parallel.py``, which runs loss_parallel on 2 and 4 ranks."""
    import test_vocab_parallel

    return test_vocab_parallel


def _multi_rank_world_sizes(module) -> set[int]:
    test = module.test_matches_cross_entropy_of_gathered_logits
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    return {len(sizes) for sizes in mark.args[1]}


def parallel_class_weights(mesh):
    z, y, w = _data(ignored=False)
    # Without ignored targets: the weighted loss and its gradient of F.cross_entropy.
    loss, peer = _parallel(mesh, z, y, weight=w)
    _backward(loss)
    plain = z.clone().requires_grad_()
    want = F.cross_entropy(plain, y, weight=w)
    want.backward()
    torch.testing.assert_close(loss.full_tensor(), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(peer.grad.full_tensor(), plain.grad)
    # With ignored targets the forward pass runs and the backward pass raises.
    y[:2] = -100
    loss, _ = _parallel(mesh, z, y, weight=w)
    with pytest.raises(RuntimeError):
        _backward(loss)
    # On 2 and 4 ranks the same refusal is asserted by _against_loss_parallel.
    source = inspect.getsource(_vocab_parallel_module()._against_loss_parallel)
    assert '(ignored, {"weight": weight})' in source


def parallel_label_smoothing(mesh):
    z, y, _ = _data(ignored=False)
    F.cross_entropy(z, y, label_smoothing=0.3)  # plain: accepted
    with pytest.raises(RuntimeError, match="masked_fill_"):
        loss, _ = _parallel(mesh, z, y, label_smoothing=0.3)
        _backward(loss)
    # On 2 and 4 ranks the same refusal is asserted by _against_loss_parallel.
    source = inspect.getsource(_vocab_parallel_module()._against_loss_parallel)
    assert '(target, {"label_smoothing": 0.3})' in source


def parallel_class_sharding(mesh):
    from torch.distributed.tensor import Shard

    z, y, _ = _data()
    loss, peer = _parallel(mesh, z, y)
    _backward(loss)
    assert peer.placements == (Shard(1),) and peer.grad.placements == (Shard(1),)
    plain = z.clone().requires_grad_()
    want = F.cross_entropy(plain, y)
    want.backward()
    torch.testing.assert_close(loss.full_tensor(), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(peer.grad.full_tensor(), plain.grad)
    # Classes split over 2 and 4 spawned ranks: test_vocab_parallel's workers compare
    # loss and gradient shards with loss_parallel on a Shard(1) DTensor.
    module = _vocab_parallel_module()
    assert {2, 4} <= _multi_rank_world_sizes(module)
    assert "_against_loss_parallel(" in inspect.getsource(module._worker)
    source = inspect.getsource(module._against_loss_parallel)
    assert "[Shard(1)]" in source and "loss_parallel()" in source


def xent_vocab_parallel(mesh):
    z, y, _ = _data()
    for options in ({}, {"label_smoothing": 0.2}, {"reduction": "sum"}):
        _same(
            lambda a, o=options: xt.vocab_parallel_cross_entropy(a, y, **o),
            lambda b, o=options: F.cross_entropy(b, y, **o),
            z,
        )
    # The classes split over 2 and 4 spawned ranks, unequally: test_vocab_parallel.
    module = _vocab_parallel_module()
    assert {2, 4} <= _multi_rank_world_sizes(module)
    assert "xt.vocab_parallel_cross_entropy(shard" in inspect.getsource(module._worker)


# ---- xent.torch --------------------------------------------------------------------


def xent_class_weights():
    z, y, w = _data()
    for reduction in ("mean", "sum"):
        _same(
            lambda a, r=reduction: xt.cross_entropy(a, y, weight=w, reduction=r),
            lambda b, r=reduction: F.cross_entropy(b, y, weight=w, reduction=r),
            z,
        )


def xent_label_smoothing():
    z, y, w = _data()
    _same(
        lambda a: xt.cross_entropy(a, y, label_smoothing=0.2),
        lambda b: F.cross_entropy(b, y, label_smoothing=0.2),
        z,
    )


def xent_z_loss():
    z, y, _ = _data()
    keep = y != -100
    scale = 0.3

    def want(b):
        z_term = torch.where(keep, scale * torch.logsumexp(b, -1) ** 2, 0)
        return (F.cross_entropy(b, y, reduction="sum") + z_term.sum()) / keep.sum()

    _same(lambda a: xt.cross_entropy(a, y, z_loss_scale=scale), want, z)
    loss, z_loss = xt.cross_entropy(z, y, z_loss_scale=scale, return_z_loss=True)
    want_z = (
        torch.where(keep, scale * torch.logsumexp(z, -1) ** 2, 0).sum() / keep.sum()
    )
    torch.testing.assert_close(z_loss, want_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss, want(z), rtol=1e-12, atol=1e-12)


def xent_softcap():
    z, y, _ = _data()
    cap = 2.0
    _same(
        lambda a: xt.cross_entropy(a, y, softcap=cap),
        lambda b: F.cross_entropy(cap * torch.tanh(b / cap), y),
        z,
    )


def xent_linear_chunked():
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(10, 4, dtype=torch.float64, generator=g)
    weight = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 7, (10,), generator=g)
    y[::4] = -100
    for chunk_size in (1, 3, 10):  # one row, uneven chunks, all rows at once
        _same(
            lambda h, c=chunk_size: xt.linear_cross_entropy(h, weight, y, chunk_size=c),
            lambda h: F.cross_entropy(h @ weight.T, y),
            hidden,
        )
    with pytest.raises(ValueError, match="chunk_size"):
        xt.linear_cross_entropy(hidden, weight, y, chunk_size=0)


def xent_fullgraph_compile():
    import torch._dynamo

    z, y, w = _data()
    compiled = torch.compile(xt.cross_entropy, fullgraph=True, backend="aot_eager")
    try:
        _same(
            lambda a: compiled(a, y, weight=w, z_loss_scale=0.1, softcap=3.0),
            lambda b: xt.cross_entropy(b, y, weight=w, z_loss_scale=0.1, softcap=3.0),
            z,
        )
    finally:
        torch._dynamo.reset()


# (row, column) -> (the cell's text when its check was written, the check)
CHECKS: dict[tuple[str, str], tuple[str, Callable]] = {
    ("class weights", PARALLEL): (
        "yes, but with ignored targets its backward pass fails (tested)",
        parallel_class_weights,
    ),
    ("class weights", XENT): ("`cross_entropy` (tested)", xent_class_weights),
    ("label smoothing", PARALLEL): ("refused (tested)", parallel_label_smoothing),
    ("label smoothing", XENT): ("yes (tested)", xent_label_smoothing),
    ("z-loss", XENT): ("`z_loss_scale`, `return_z_loss` (tested)", xent_z_loss),
    ("soft-capping", XENT): ("`softcap` (tested)", xent_softcap),
    ("fused linear layer", XENT): (
        "`linear_cross_entropy`, chunked (tested)",
        xent_linear_chunked,
    ),
    ("`torch.compile`", XENT): ("`fullgraph=True` (tested)", xent_fullgraph_compile),
    ("classes split over devices", PARALLEL): (
        "DTensor sharding of the classes (tested)",
        parallel_class_sharding,
    ),
    ("classes split over devices", XENT): (
        "`vocab_parallel_cross_entropy` (tested)",
        xent_vocab_parallel,
    ),
}


def test_the_table_is_there():
    cells = table()
    columns = {column for _, column in cells}
    assert {PLAIN, PARALLEL, "Liger-Kernel", "Cut Cross-Entropy", XENT} <= columns
    assert len({row for row, _ in cells}) >= len({row for row, _ in CHECKS})
    assert _tested(), f"{LM}: the peers table marks no cell {TESTED}"


def test_every_tested_cell_has_a_check_and_every_check_its_cell():
    tested = _tested()
    assert sorted(set(tested) - set(CHECKS)) == [], "tested cells without a check"
    assert sorted(set(CHECKS) - set(tested)) == [], "checks without a tested cell"


@pytest.mark.parametrize("row,column", list(CHECKS), ids=lambda key: str(key))
def test_tested_cell(row, column, request):
    wording, check = CHECKS[row, column]
    assert table().get((row, column)) == wording, "the cell changed since its check"
    names = inspect.signature(check).parameters
    check(**{name: request.getfixturevalue(name) for name in names})
