"""The shared docstrings of ``xent._docs``: every backend's function carries its own
rendering, every field is filled, and every example runs, once per backend."""

from __future__ import annotations

import doctest
import importlib

import pytest

from xent import _docs

# The backends whose shared functions take their docstrings from xent._docs.
BACKENDS = ["numpy", "torch", "tensorflow"]


def _module(backend):
    if backend != "numpy":
        pytest.importorskip(backend)
    return importlib.import_module(f"xent.{backend}")


def _shared_names(module):
    return [name for name in module.__all__ if name in _docs.TEMPLATES]


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_shared_function_carries_the_rendered_template(backend):
    module = _module(backend)
    names = _shared_names(module)
    assert len(names) >= 8  # the API every backend shares
    for name in names:
        assert getattr(module, name).__doc__ == _docs.render(name, backend), name


@pytest.mark.parametrize("backend", list(_docs.BACKENDS))
@pytest.mark.parametrize("name", list(_docs.TEMPLATES))
def test_rendered_docstrings_are_complete_and_fit_the_code_box(backend, name):
    text = _docs.render(name, backend)
    assert "$" not in text  # every field filled
    assert "\n\n\n" not in text  # an empty note leaves no blank paragraph
    assert max(len(line) for line in text.splitlines()) <= 88
    assert ">>> " in text  # an example, which the doctests below run


def test_fields_say_what_each_framework_does_with_a_bad_value():
    text = {b: _docs.render("cross_entropy", b) for b in _docs.BACKENDS}
    assert "InvalidArgumentError" in text["tensorflow"]
    assert "device-side assertion" in text["torch"]
    assert "torch.compile" in text["torch"]
    assert "InvalidArgumentError" not in text["numpy"]
    assert "device-side" not in text["numpy"]
    assert "_numpy_blocked" in text["numpy"]  # the note of the NumPy backend only
    assert "_numpy_blocked" not in text["tensorflow"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_example_runs_in_every_backend(backend):
    module = _module(backend)
    parser, ran = doctest.DocTestParser(), 0
    for name in _shared_names(module):
        test = parser.get_doctest(
            _docs.render(name, backend), dict(vars(module)), name, None, 0
        )
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, out=lambda text: None)
        assert runner.failures == 0, (backend, name)
        ran += runner.tries
    assert ran >= 9


def test_an_example_that_no_longer_holds_fails():
    module = _module("numpy")
    text = _docs.render("softmax", "numpy").replace("[1.0, 0.0]", "[1.0, 0.5]", 1)
    test = doctest.DocTestParser().get_doctest(text, dict(vars(module)), "s", None, 0)
    runner = doctest.DocTestRunner()
    runner.run(test, out=lambda text: None)
    assert runner.failures == 1


def test_unknown_backend_name_or_field_is_a_value_error(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        _docs.shared("jax")
    with pytest.raises(ValueError, match="backend must be one of"):
        _docs.render("softmax", "jax")
    with pytest.raises(ValueError, match="name must be a function with a shared"):
        _docs.render("soft_max", "numpy")
    monkeypatch.setitem(_docs.TEMPLATES, "softmax", "Softmax of $tensor.\n")
    with pytest.raises(ValueError, match="unknown field"):
        _docs.render("softmax", "numpy")


def test_the_decorator_sets_the_docstring_and_returns_the_function():
    def softmax():
        """A docstring the decorator replaces."""

    assert _docs.shared("numpy")(softmax) is softmax
    assert softmax.__doc__ == _docs.render("softmax", "numpy")

    def not_shared():
        pass

    with pytest.raises(ValueError, match="not_shared"):
        _docs.shared("numpy")(not_shared)
