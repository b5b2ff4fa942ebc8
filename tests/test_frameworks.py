"""Where TensorFlow/Keras and PyTorch define the same quantity, xent agrees with both.

Also: the TensorFlow backend under ``tf.function`` (shape errors while tracing, value
checks as graph assertions) and the PyTorch backend on the device of its input.
"""

from __future__ import annotations

import numpy as np
import pytest
from _backends import load

tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed")
keras = tf.keras
xtf = load("tensorflow").mod

rng = np.random.default_rng(2026)
LOGITS = rng.normal(size=(16, 5)).astype(np.float32) * 3
LABELS = rng.integers(0, 5, size=16)
PROBS = rng.dirichlet(np.ones(5), size=16).astype(np.float32)
BLOGITS = rng.normal(size=(16, 4)).astype(np.float32) * 3
BTARGET = (rng.random((16, 4)) < 0.3).astype(np.float32)


def close(a, b, rtol=2e-6, atol=2e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("backend", ["numpy", "torch", "tensorflow"])
def test_sparse_categorical_crossentropy(backend):
    b = load(backend)
    want = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, LOGITS)
    close(b.np(b.mod.cross_entropy(b.arr(LOGITS), b.arr(LABELS))), want)
    per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=LABELS, logits=LOGITS
    )
    close(
        b.np(b.mod.cross_entropy(b.arr(LOGITS), b.arr(LABELS), reduction="none")),
        per_row,
    )


@pytest.mark.parametrize("backend", ["numpy", "torch", "tensorflow"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.4])
def test_categorical_crossentropy_with_smoothing(backend, label_smoothing):
    # Keras smooths probability targets as (1 - eps) y + eps / C: the same as PyTorch.
    b = load(backend)
    want = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=label_smoothing
    )(PROBS, LOGITS)
    got = b.mod.cross_entropy(
        b.arr(LOGITS), b.arr(PROBS), label_smoothing=label_smoothing
    )
    close(b.np(got), want)


@pytest.mark.parametrize("backend", ["numpy", "torch", "tensorflow"])
def test_binary_crossentropy_and_weighted_logits(backend):
    b = load(backend)
    want = keras.losses.BinaryCrossentropy(from_logits=True)(BTARGET, BLOGITS)
    close(
        b.np(b.mod.binary_cross_entropy_with_logits(b.arr(BLOGITS), b.arr(BTARGET))),
        want,
    )
    pos_weight = np.array([1.0, 2.0, 5.0, 0.5], dtype=np.float32)
    want = tf.nn.weighted_cross_entropy_with_logits(BTARGET, BLOGITS, pos_weight)
    got = b.mod.binary_cross_entropy_with_logits(
        b.arr(BLOGITS), b.arr(BTARGET), pos_weight=b.arr(pos_weight), reduction="none"
    )
    close(b.np(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "torch", "tensorflow"])
def test_binary_focal_crossentropy(backend):
    b = load(backend)
    loss = keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.25, gamma=2.0, from_logits=True
    )
    got = b.mod.sigmoid_focal_loss(
        b.arr(BLOGITS), b.arr(BTARGET), alpha=0.25, gamma=2.0, reduction="mean"
    )
    close(b.np(got), loss(BTARGET, BLOGITS), rtol=1e-5, atol=1e-6)


def test_probabilities_match_keras_inside_its_clip():
    # Keras clips probabilities to [1e-7, 1 - 1e-7]; PyTorch clamps the log at -100.
    # Away from 0 and 1 the two agree.
    probs = tf.sigmoid(BLOGITS).numpy().clip(1e-3, 1 - 1e-3)
    want = keras.losses.BinaryCrossentropy()(BTARGET, probs)
    close(xtf.binary_cross_entropy(probs, BTARGET), want, rtol=1e-5)


def test_cross_entropy_under_tf_function_matches_eager():
    weight = tf.constant([1.0, 0.5, 2.0, 1.0, 3.0])

    @tf.function
    def loss(z, t):
        return xtf.cross_entropy(
            z, t, weight=weight, label_smoothing=0.1, ignore_index=3
        )

    eager = xtf.cross_entropy(
        LOGITS, LABELS, weight=weight, label_smoothing=0.1, ignore_index=3
    )
    close(loss(tf.constant(LOGITS), tf.constant(LABELS)), eager)
    z = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        value = loss(z, tf.constant(LABELS))
    assert np.all(np.isfinite(tape.gradient(value, z).numpy()))


def test_tf_function_with_unknown_batch_size():
    spec = [tf.TensorSpec([None, 5], tf.float32), tf.TensorSpec([None], tf.int64)]
    fn = tf.function(
        lambda z, t: xtf.cross_entropy(z, t, reduction="sum"), input_signature=spec
    )
    close(
        fn(LOGITS, LABELS),
        xtf.cross_entropy(LOGITS, LABELS, reduction="sum"),
        rtol=1e-5,
    )
    close(
        fn(LOGITS[:3], LABELS[:3]),
        xtf.cross_entropy(LOGITS[:3], LABELS[:3], reduction="sum"),
    )


def test_shape_errors_raise_value_error_while_tracing():
    fn = tf.function(lambda z, t: xtf.cross_entropy(z, t))
    with pytest.raises(ValueError, match="does not match logits"):
        fn(tf.constant(LOGITS), tf.constant(LABELS[:3]))


def test_value_errors_become_graph_assertions():
    fn = tf.function(lambda z, t: xtf.cross_entropy(z, t))
    bad = LABELS.copy()
    bad[0] = 7
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside \[0, 5\)"):
        fn(tf.constant(LOGITS), tf.constant(bad))


@pytest.mark.parametrize("z_loss_scale", [0.0, 0.1])
def test_probability_and_binary_value_errors_in_graphs_and_eagerly(z_loss_scale):
    """A bad value is a graph assertion in tf.function and a ValueError naming it
    eagerly, for the fused cross-entropy's probability targets and for fail_if."""
    bad_probs = PROBS.copy()
    bad_probs[3, 1] = 1.5
    ce = lambda z, t: xtf.cross_entropy(z, t, z_loss_scale=z_loss_scale)  # noqa: E731
    bce = lambda q, y: xtf.binary_cross_entropy(q, y)  # noqa: E731
    bad_q = np.full((2, 3), 0.5, np.float32)
    bad_q[1, 2] = -0.25
    cases = [
        (ce, LOGITS, bad_probs, r"target \(class probabilities\) must hold", "1.5"),
        (bce, bad_q, np.ones((2, 3), np.float32), "probs must hold", "-0.25"),
    ]
    for fn, first, second, message, value in cases:
        args = tf.constant(first), tf.constant(second)
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            tf.function(fn)(*args)
        with pytest.raises(ValueError, match=message) as raised:
            fn(*args)
        assert value in str(raised.value)


def test_keras_model_trains_with_the_xent_loss():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(5)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=lambda y, z: xtf.cross_entropy(z, tf.cast(tf.reshape(y, [-1]), tf.int64)),
    )
    history = model.fit(LOGITS, LABELS, epochs=20, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_torch_runs_on_the_device_of_its_input():
    torch = pytest.importorskip("torch")
    xt = load("torch").mod
    device = xt.default_device()
    z = torch.tensor(LOGITS, device=device, requires_grad=True)
    loss = xt.cross_entropy(
        z, LABELS, weight=np.ones(5, dtype=np.float32), label_smoothing=0.1
    )
    assert loss.device.type == device.type
    loss.backward()
    assert z.grad.device.type == device.type
