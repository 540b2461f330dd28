"""keras.ops signal processing: fft, fft2, ifft2, rfft, irfft, stft, istft on (real, imag)
pairs as Keras passes complex values, and extract_sequences (differentiable framing).
The transforms are numpy's and carry no gradient."""
from __future__ import annotations

import numpy as np

from grebe.ops._keras import gather, keras_op, out, raw

_f32 = np.float32


def _complex(x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError("expected a (real, imag) pair of tensors, as Keras passes complex "
                         "values")
    return raw(x[0]).astype(np.float64) + 1j * raw(x[1]).astype(np.float64)


def _pair(c):
    return out(c.real.astype(_f32)), out(c.imag.astype(_f32))


@keras_op
def fft(x):
    return _pair(np.fft.fft(_complex(x), axis=-1))


@keras_op
def fft2(x):
    return _pair(np.fft.fft2(_complex(x), axes=(-2, -1)))


@keras_op
def ifft2(x):
    return _pair(np.fft.ifft2(_complex(x), axes=(-2, -1)))


@keras_op
def rfft(x, fft_length=None):
    return _pair(np.fft.rfft(raw(x), n=fft_length, axis=-1))


@keras_op
def irfft(x, fft_length=None):
    return out(np.fft.irfft(_complex(x), n=fft_length, axis=-1).astype(_f32))


@keras_op
def extract_sequences(x, sequence_length, sequence_stride):
    """x (..., n) -> frames (..., n_frames, sequence_length) taken every sequence_stride."""
    n = np.shape(raw(x))[-1]
    count = 1 + (n - sequence_length) // sequence_stride
    idx = np.arange(count)[:, None] * sequence_stride + np.arange(sequence_length)[None, :]
    return gather(lambda a: a[..., idx], x)


def _window(window, length):
    if window is None:
        return np.ones(length)
    if isinstance(window, str):
        if window == "hann":
            return np.hanning(length + 1)[:-1]  # periodic, as scipy/torch's hann_window
        if window == "hamming":
            return np.hamming(length + 1)[:-1]
        raise ValueError(f"stft: window must be 'hann', 'hamming', None or an array, "
                         f"received {window!r}")
    return raw(window).astype(np.float64)


@keras_op
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    a = raw(x).astype(np.float64)
    if center:
        pad = [(0, 0)] * (a.ndim - 1) + [(fft_length // 2, fft_length // 2)]
        a = np.pad(a, pad, mode="reflect")
    w = _window(window, sequence_length)
    lpad = (fft_length - sequence_length) // 2
    w = np.pad(w, (lpad, fft_length - sequence_length - lpad))
    n = a.shape[-1]
    count = 1 + (n - fft_length) // sequence_stride
    idx = np.arange(count)[:, None] * sequence_stride + np.arange(fft_length)[None, :]
    return _pair(np.fft.rfft(a[..., idx] * w, n=fft_length, axis=-1))


@keras_op
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    frames = np.fft.irfft(_complex(x), n=fft_length, axis=-1)
    w = _window(window, sequence_length)
    lpad = (fft_length - sequence_length) // 2
    w = np.pad(w, (lpad, fft_length - sequence_length - lpad))
    count = frames.shape[-2]
    n = fft_length + sequence_stride * (count - 1)
    y = np.zeros(frames.shape[:-2] + (n,))
    norm = np.zeros(n)
    for i in range(count):
        s = i * sequence_stride
        y[..., s:s + fft_length] += frames[..., i, :] * w
        norm[s:s + fft_length] += w * w
    y = y / np.where(norm > 1e-10, norm, 1.0)
    if center:
        y = y[..., fft_length // 2: n - fft_length // 2]
    if length is not None:
        y = y[..., :length]
    return out(y.astype(_f32))


__all__ = ["fft", "fft2", "ifft2", "rfft", "irfft", "extract_sequences", "stft", "istft"]
