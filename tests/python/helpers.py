"""Test helpers: check_op compares an op's forward and every input gradient against a float64
numpy reference (central finite differences) and, when given, a PyTorch function."""
from __future__ import annotations

import numpy as np

import grebe


def numeric_grad(ref_fn, arrays, upstream, index, eps=1e-3):
    """d/d arrays[index] of sum(ref_fn(*arrays) * upstream), central differences in float64."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    x = arrays[index]
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = np.sum(np.asarray(ref_fn(*arrays), dtype=np.float64) * upstream)
        flat[i] = old - eps
        fm = np.sum(np.asarray(ref_fn(*arrays), dtype=np.float64) * upstream)
        flat[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return grad


def check_op(fn, ref_fn, shapes, *, torch_fn=None, seed=0, rtol=1e-4, atol=1e-4,
             grad_rtol=1e-2, grad_atol=1e-3, low=-1.0, high=1.0, inputs=None, grad_inputs=None):
    """Checks `fn(*tensors)` (grebe) against `ref_fn(*float64 arrays)` (numpy): values, then the
    gradient of every input in `grad_inputs` (default: all) by finite differences on ref_fn,
    and against `torch_fn(*torch tensors)` when given. Returns the grebe output."""
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = [rng.uniform(low, high, size=s).astype(np.float32) for s in shapes]
    inputs = [np.asarray(a, dtype=np.float32) for a in inputs]
    grad_inputs = range(len(inputs)) if grad_inputs is None else grad_inputs
    tensors = [grebe.tensor(a, requires_grad=(i in grad_inputs)) for i, a in enumerate(inputs)]
    out = fn(*tensors)
    ref = np.asarray(ref_fn(*[a.astype(np.float64) for a in inputs]))
    assert out.shape == ref.shape, f"forward shape {out.shape} != reference {ref.shape}"
    np.testing.assert_allclose(out.numpy(), ref, rtol=rtol, atol=atol, err_msg="forward")

    upstream = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(upstream)
    for i in grad_inputs:
        num = numeric_grad(ref_fn, inputs, upstream.astype(np.float64), i)
        got = tensors[i].grad
        assert got is not None, f"input {i} received no gradient"
        np.testing.assert_allclose(got, num, rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"gradient of input {i} vs finite differences")

    if torch_fn is not None:
        torch = __import__("torch")
        tt = [torch.tensor(a, requires_grad=(i in grad_inputs)) for i, a in enumerate(inputs)]
        tout = torch_fn(*tt)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg="forward vs torch")
        tout.backward(torch.tensor(upstream))
        for i in grad_inputs:
            np.testing.assert_allclose(tensors[i].grad, tt[i].grad.numpy(), rtol=rtol * 10,
                                       atol=atol * 10, err_msg=f"gradient {i} vs torch")
    return out


def torch_or_none():
    try:
        import torch
        return torch
    except ImportError:
        return None


def _shape_matches(got, want) -> bool:
    got, want = tuple(got), tuple(want)
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))


def run_layer_test(layer_cls, kwargs, input_shape, expected_output_shape, *, input_data=None,
                   expected_weight_shapes=None, expected_num_trainable_weights=None,
                   expected_num_non_trainable_weights=None, call_kwargs=None, training=None,
                   check_grads=True, seed=0, rtol=1e-5, atol=1e-6):
    """Checks any layer the way Keras's run_layer_test does, and returns the built layer:

    - `layer_cls(**kwargs)` called on random float32 data of `input_shape` (or `input_data`,
      e.g. integer ids) gives `expected_output_shape` (None entries match anything);
    - `compute_output_shape(input_shape)` agrees, also with the batch axis unknown (None);
    - weights: shapes (`expected_weight_shapes`, Keras order) and counts; count_params();
    - `get_config()` holds only JSON types and `from_config` rebuilds a layer that, given the
      same weights with set_weights, gives the same output;
    - with `check_grads`, every trainable weight (and a float input) receives a finite
      gradient of the weight's shape from `(y * r).sum().backward()`.
    """
    import json

    rng = np.random.default_rng(seed)
    call_kwargs = dict(call_kwargs or {})
    if training is not None:
        call_kwargs["training"] = training
    if input_data is None:
        input_data = rng.standard_normal(input_shape).astype(np.float32)
    input_data = np.asarray(input_data)
    assert input_data.shape == tuple(input_shape), "input_data does not have input_shape"
    is_float = input_data.dtype.kind == "f"

    layer = layer_cls(**kwargs)
    x = grebe.tensor(input_data)
    y = layer(x, **call_kwargs)
    assert layer.built, f"{layer_cls.__name__} did not set built"
    assert _shape_matches(y.shape, expected_output_shape), \
        f"{layer_cls.__name__}: output shape {y.shape}, expected {expected_output_shape}"
    assert y.dtype == np.float32, f"{layer_cls.__name__}: output dtype {y.dtype}"

    # compute_output_shape agrees with the real output, with and without a known batch.
    got = tuple(layer.compute_output_shape(tuple(input_shape)))
    assert got == tuple(y.shape), f"compute_output_shape {got} != output shape {y.shape}"
    unknown = (None,) + tuple(input_shape[1:])
    got = tuple(layer.compute_output_shape(unknown))
    assert got == (None,) + tuple(y.shape[1:]), \
        f"compute_output_shape({unknown}) gave {got}, expected {(None,) + tuple(y.shape[1:])}"

    # Weights: shapes, counts, numpy copies.
    weights = layer.get_weights()
    if expected_weight_shapes is not None:
        assert [w.shape for w in weights] == [tuple(s) for s in expected_weight_shapes], \
            f"weight shapes {[w.shape for w in weights]}, expected {expected_weight_shapes}"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    assert layer.count_params() == sum(int(w.size) for w in weights)

    # Config round trip: JSON-safe, rebuilds an equivalent layer.
    config = layer.get_config()
    json.dumps(config)
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) changed the config"
    y_clone = clone(grebe.tensor(input_data), **call_kwargs)
    clone.set_weights(weights)
    y_clone = clone(grebe.tensor(input_data), **call_kwargs)
    np.testing.assert_allclose(y_clone.numpy(), y.numpy(), rtol=rtol, atol=atol,
                               err_msg="from_config clone with the same weights differs")

    if check_grads:
        for w in layer.trainable_weights:
            w.grad = None
        xg = grebe.tensor(input_data, requires_grad=is_float)
        out = layer(xg, **call_kwargs)
        r = rng.standard_normal(out.shape).astype(np.float32)
        if not out.requires_grad:
            assert not layer.trainable_weights, "output does not depend on trainable weights"
            return layer
        (out * r).sum().backward()
        for w in layer.trainable_weights:
            assert w.grad is not None, f"trainable weight {w.name} received no gradient"
            assert w.grad.shape == w.shape, f"{w.name}: grad shape {w.grad.shape} != {w.shape}"
            assert np.isfinite(w.grad).all(), f"{w.name}: non-finite gradient"
        for w in layer.non_trainable_weights:
            assert w.grad is None, f"non-trainable weight {w.name} received a gradient"
        if is_float:
            assert xg.grad is not None and xg.grad.shape == xg.shape, "input got no gradient"
    return layer
