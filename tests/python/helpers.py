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
