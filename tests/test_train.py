"""xent.train: gradients by hand against finite differences, logging, determinism, and
the PyTorch and Keras loops against the frameworks' own losses."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xent import data, tracking, train
from xent import numpy as xn
from xent.train.numpy import _backward, _forward, _numpy_loss

KEYS = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}
ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "tensorflow", "keras", "wandb", "matplotlib")


def _loaded_after(code):
    """The frameworks a fresh interpreter has imported after running ``code``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys\n{code}\n"
            f"print(sorted(m for m in {FRAMEWORKS} if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_train_imports_a_framework_only_when_its_loop_is_used():
    assert _loaded_after("from xent import train\ntrain.Fit, train.fit_numpy") == []
    pytest.importorskip("torch")
    assert _loaded_after("from xent.train import fit_torch") == ["torch"]
    pytest.importorskip("keras")
    loaded = _loaded_after("from xent import train\ntrain.fit_keras, train.keras_loss")
    assert {"keras", "tensorflow"} <= set(loaded) and "torch" not in loaded


def test_every_public_name_is_where_it_was():
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from xent import keras as xk
    from xent.train import keras as train_keras
    from xent.train import numpy as train_numpy
    from xent.train import torch as train_torch

    homes = {"Fit": train, "keras_loss": xk}
    for module in (train_numpy, train_torch, train_keras):
        homes.update((name, module) for name in module.__all__ if name not in homes)
    assert sorted(homes) == sorted(train.__all__)
    for name, module in homes.items():
        assert getattr(train, name) is getattr(module, name), name
        assert name in dir(train)
    assert train.numpy is train_numpy and train.keras_loss is train_keras.keras_loss
    with pytest.raises(AttributeError, match="fit_jax"):
        train.fit_jax  # noqa: B018


def _loss(params, X, y, loss):
    logits = train.logits_numpy(params, X)
    if loss == "mse":
        return float(
            np.mean(np.sum((xn.softmax(logits) - np.eye(logits.shape[1])[y]) ** 2, 1))
        )
    return float(xn.cross_entropy(logits, y))


@pytest.mark.parametrize("hidden_size", [None, 5])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_numpy_gradients_match_finite_differences(hidden_size, loss):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((7, 2)), rng.integers(0, 3, 7)
    params = train.init_numpy(2, 3, hidden_size=hidden_size, seed=1)
    logits, hidden = _forward(params, X)
    _, grad_logits = _numpy_loss(loss, logits, y, {})
    grads = _backward(params, X, hidden, grad_logits)
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][index] += eps
            down[name][index] -= eps
            numeric[index] = (_loss(up, X, y, loss) - _loss(down, X, y, loss)) / (
                2 * eps
            )
        np.testing.assert_allclose(grads[name], numeric, atol=1e-7, err_msg=name)


def test_fit_numpy_learns_and_logs_every_epoch(tmp_path):
    split = data.blobs(n=150, std=0.8)
    with tracking.start_run("t", dir=tmp_path, mode="disabled") as run:
        fit = train.fit_numpy(split, num_epochs=40, lr=0.5, run=run)
    history = tracking.read_history(run)
    assert [row["epoch"] for row in history] == list(range(40))
    assert KEYS | {"grad_norm"} <= set(history[0])
    assert history[-1]["val_loss"] < 0.5 * history[0]["val_loss"]
    assert history[-1]["val_accuracy"] > 0.9
    assert history == [{"_step": i, **row} for i, row in enumerate(fit.history)]


def test_fit_numpy_is_deterministic_and_leaves_given_params_alone():
    split = data.spirals(n=90)
    start = train.init_numpy(2, 3, hidden_size=8, seed=3)
    copy = {k: v.copy() for k, v in start.items()}
    a = train.fit_numpy(split, num_epochs=15, params=start)
    b = train.fit_numpy(split, num_epochs=15, params=start)
    assert a.history == b.history
    for k in start:
        np.testing.assert_array_equal(start[k], copy[k])
        np.testing.assert_array_equal(a.model[k], b.model[k])


def test_mse_stalls_from_a_saturated_wrong_start_where_cross_entropy_recovers():
    split = data.blobs(n=200, num_classes=2, std=1.0)
    bad = {
        "W": np.array([[0.0, 0.0], [-4.0, 4.0]]),
        "b": np.zeros(2),
    }  # class 0 sits at +x2
    ce = train.fit_numpy(split, num_epochs=30, lr=0.5, params=bad)
    mse = train.fit_numpy(split, num_epochs=30, lr=0.5, params=bad, loss="mse")
    assert ce.history[0]["val_accuracy"] < 0.1 and mse.history[0]["val_accuracy"] < 0.1
    assert ce.history[-1]["val_accuracy"] > 0.95
    assert mse.history[-1]["val_accuracy"] < 0.1
    assert mse.history[0]["grad_norm"] < 1e-2 * ce.history[0]["grad_norm"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"num_epochs": 0}, "num_epochs"),
        ({"lr": -1.0}, "lr"),
        ({"loss": "hinge"}, "loss"),
        ({"seed": -2}, "seed"),
        ({"hidden_size": 0}, "hidden_size"),
    ],
)
def test_fit_numpy_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        train.fit_numpy(data.blobs(n=30), **kwargs)


def test_fit_numpy_refuses_other_inputs():
    with pytest.raises(ValueError, match="split"):
        train.fit_numpy((np.zeros((3, 2)), np.zeros(3)))
    with pytest.raises(ValueError, match="split"):
        train.fit_numpy(data.multilabel(n=20))


# --------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------


@pytest.fixture
def torch_one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    yield torch
    torch.set_num_threads(threads)


def test_fit_torch_xent_and_nn_losses_give_the_same_curve(torch_one_thread, tmp_path):
    torch = torch_one_thread
    from xent import torch as xt

    split = data.moons(n=120)
    runs = []
    for loss_fn in (xt.cross_entropy, torch.nn.CrossEntropyLoss()):
        with tracking.start_run("t", dir=tmp_path, mode="disabled") as run:
            train.fit_torch(
                train.mlp_torch(2, 2, hidden_sizes=(8,), seed=0),
                split,
                loss_fn=loss_fn,
                num_epochs=5,
                batch_size=16,
                device="cpu",
                run=run,
            )
        runs.append(tracking.read_history(run))
    assert len(runs[0]) == 5 and KEYS <= set(runs[0][0])
    for a, b in zip(*runs, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
    assert runs[0][-1]["train_loss"] < runs[0][0]["train_loss"]


def test_fit_torch_binary_head_and_determinism(torch_one_thread):
    from xent import torch as xt

    split = data.moons(n=120)

    def fit():
        return train.fit_torch(
            train.mlp_torch(2, 1, hidden_sizes=(16,), seed=1),
            split,
            loss_fn=xt.binary_cross_entropy_with_logits,
            num_epochs=8,
            lr=0.02,
            batch_size=16,
            device="cpu",
            seed=4,
        )

    a, b = fit(), fit()
    assert a.history == b.history
    assert a.history[-1]["val_accuracy"] > 0.8
    probs = train.predict_proba_torch(a.model, split.X_val)
    assert probs.shape == (len(split.X_val),) and np.all((probs >= 0) & (probs <= 1))
    accuracy = np.mean((probs > 0.5) == split.y_val)
    assert accuracy == pytest.approx(a.history[-1]["val_accuracy"], abs=1e-6)


def test_fit_torch_multilabel(torch_one_thread):
    from xent import torch as xt

    split = data.multilabel(n=120, num_labels=3)
    fit = train.fit_torch(
        train.mlp_torch(2, 3, hidden_sizes=(8,)),
        split,
        loss_fn=xt.binary_cross_entropy_with_logits,
        num_epochs=4,
        device="cpu",
    )
    assert len(fit.history) == 4 and 0 <= fit.history[-1]["val_accuracy"] <= 1


def test_fit_torch_bad_arguments(torch_one_thread):
    model = train.mlp_torch(2, 2)
    with pytest.raises(ValueError, match="loss_fn"):
        train.fit_torch(model, data.moons(n=20), loss_fn=None)
    with pytest.raises(ValueError, match="batch_size"):
        train.fit_torch(
            model, data.moons(n=20), loss_fn=lambda z, t: z.sum(), batch_size=0
        )
    with pytest.raises(ValueError, match="hidden_sizes"):
        train.mlp_torch(2, 2, hidden_sizes=(0,))


# --------------------------------------------------------------------------------------
# Keras
# --------------------------------------------------------------------------------------


def test_keras_loss_matches_keras_losses():
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    ours = train.keras_loss("cross_entropy")(
        y.astype(np.float32), logits
    )  # floats, as Keras
    theirs = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5)
    ours = train.keras_loss("cross_entropy")(
        y[:, None].astype(np.float32), logits
    )  # (b, 1)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5)

    z = rng.standard_normal((6, 1)).astype(np.float32)
    t = rng.integers(0, 2, (6, 1)).astype(np.float32)
    ours = np.mean(train.keras_loss("binary_cross_entropy_with_logits")(t, z))
    theirs = keras.losses.BinaryCrossentropy(from_logits=True)(t, z)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


def test_keras_loss_passes_its_options_and_probability_targets():
    keras = pytest.importorskip("keras")
    xtf = pytest.importorskip("xent.tensorflow")
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    weight = np.array([1.0, 2.0, 0.5, 3.0], dtype=np.float32)
    ours = train.keras_loss("cross_entropy", weight=weight, label_smoothing=0.2)(
        y.astype(np.float32), logits
    )
    theirs = xtf.cross_entropy(
        logits, y, weight=weight, label_smoothing=0.2, reduction="none"
    )
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-6)
    assert not np.allclose(
        np.asarray(ours), np.asarray(train.keras_loss()(y.astype(np.float32), logits))
    )

    probs = xn.softmax(rng.standard_normal((5, 4))).astype(np.float32)  # (b, C)
    ours = train.keras_loss("cross_entropy")(probs, logits)
    theirs = keras.losses.categorical_crossentropy(probs, logits, from_logits=True)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5)


def test_keras_loss_bad_arguments():
    pytest.importorskip("tensorflow")
    with pytest.raises(ValueError, match="name"):
        train.keras_loss("hinge")
    with pytest.raises(ValueError, match="reduction"):
        train.keras_loss("cross_entropy", reduction="sum")
    with pytest.raises(ValueError, match="options .* got pos_weight"):
        train.keras_loss("cross_entropy", pos_weight=2.0)
    with pytest.raises(ValueError, match="got return_z_loss"):
        train.keras_loss("cross_entropy", return_z_loss=True)


def test_mlp_keras_bad_arguments():
    pytest.importorskip("keras")
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\]"):
        train.mlp_keras(2, 2, hidden_sizes=(8, 0))
    with pytest.raises(ValueError, match="hidden_sizes must be a sequence"):
        train.mlp_keras(2, 2, hidden_sizes=8)
    with pytest.raises(ValueError, match="seed"):
        train.mlp_keras(2, 2, seed=-1)


def test_fit_keras_logs_jsonl_and_matches_keras_loss(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    split = data.moons(n=80)
    histories = []
    for loss in (
        train.keras_loss("cross_entropy"),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ):
        with tracking.start_run("t", dir=tmp_path, mode="disabled") as run:
            train.fit_keras(
                train.mlp_keras(2, 2, hidden_sizes=(8,), seed=0),
                split,
                loss=loss,
                num_epochs=3,
                batch_size=20,
                run=run,
                seed=0,
            )
        histories.append(tracking.read_history(run))
    assert [row["epoch"] for row in histories[0]] == [0, 1, 2]
    assert KEYS <= set(histories[0][0])
    for a, b in zip(*histories, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"])
