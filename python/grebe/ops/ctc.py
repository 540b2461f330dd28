"""keras.ops.nn ctc_loss and ctc_decode (greedy): Connectionist Temporal Classification (Graves
et al. 2006) in log space, numpy float64. The loss is one Function whose backward is the
posterior occupation from the forward-backward pass: d loss / d logits = softmax - occupation.
"""
from __future__ import annotations

import numpy as np

from grebe.autograd import Function
from grebe.ops._keras import fl, gather, keras_op, out, raw

_f32 = np.float32
_NEG = -np.inf


def _lse(*xs):
    m = np.maximum.reduce(xs)
    safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(sum(np.exp(x - safe) for x in xs))


def _one(lp, labels, blank):
    """(loss, d loss / d log-probs) of one sequence: lp (T, C) log-probabilities."""
    t_len = lp.shape[0]
    ext = np.full(2 * len(labels) + 1, blank, np.int64)
    ext[1::2] = labels
    n = len(ext)
    skip = np.zeros(n, bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    alpha = np.full((t_len, n), _NEG)
    beta = np.full((t_len, n), _NEG)
    alpha[0, 0] = lp[0, ext[0]]
    if n > 1:
        alpha[0, 1] = lp[0, ext[1]]
    for t in range(1, t_len):
        a = alpha[t - 1]
        prev1 = np.concatenate([[_NEG], a[:-1]])
        prev2 = np.where(skip, np.concatenate([[_NEG, _NEG], a[:-2]]), _NEG)
        alpha[t] = _lse(a, prev1, prev2) + lp[t, ext]
    beta[-1, -1] = lp[-1, ext[-1]]
    if n > 1:
        beta[-1, -2] = lp[-1, ext[-2]]
    skip_next = np.zeros(n, bool)
    skip_next[:-2] = skip[2:]
    for t in range(t_len - 2, -1, -1):
        b = beta[t + 1]
        next1 = np.concatenate([b[1:], [_NEG]])
        next2 = np.where(skip_next, np.concatenate([b[2:], [_NEG, _NEG]]), _NEG)
        beta[t] = _lse(b, next1, next2) + lp[t, ext]
    log_p = _lse(alpha[-1, -1], alpha[-1, -2]) if n > 1 else alpha[-1, -1]
    occ = np.zeros_like(lp)
    if np.isfinite(log_p):
        post = np.exp(alpha + beta - lp[:, ext] - log_p)  # (T, n)
        for s in range(n):
            occ[:, ext[s]] += post[:, s]
    return -log_p, -occ


class CTCLoss(Function):
    """logits (B, T, C), labels (B, S), lengths -> per-sequence negative log-likelihood (B)."""

    @staticmethod
    def forward(ctx, logits, labels, label_len, logit_len, blank):
        x = logits.astype(np.float64)
        lp = x - np.log(np.sum(np.exp(x - x.max(-1, keepdims=True)), -1, keepdims=True)) - \
            x.max(-1, keepdims=True)
        losses = np.zeros(x.shape[0])
        dlp = np.zeros_like(x)
        for b in range(x.shape[0]):
            t, s = int(logit_len[b]), int(label_len[b])
            losses[b], dlp[b, :t] = _one(lp[b, :t], labels[b, :s].astype(np.int64), blank)
        ctx.save(lp, dlp)
        return losses.astype(_f32)

    @staticmethod
    def backward(ctx, dy):
        lp, dlp = ctx.saved
        # through log_softmax: g - softmax * sum(g) per time step
        g = dlp - np.exp(lp) * dlp.sum(-1, keepdims=True)
        return (g * np.asarray(dy, np.float64)[:, None, None]).astype(_f32)


@keras_op
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """CTC loss per sequence: target (B, S) labels, output (B, T, C) logits, the lengths (B)
    and the blank class `mask_index`."""
    x = fl(output)
    if np.ndim(raw(x)) != 3:
        raise ValueError(f"ctc_loss: output must be (batch, time, classes), received shape "
                         f"{np.shape(raw(x))}")
    return CTCLoss.apply(x, raw(target), raw(target_length).reshape(-1),
                         raw(output_length).reshape(-1), int(mask_index))


@keras_op
def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """Greedy CTC decoding: (decoded (1, B, T) padded with -1, scores (B, 1)) as Keras's."""
    if strategy != "greedy":
        raise NotImplementedError("ctc_decode: grebe implements strategy='greedy' only")
    v = fl(inputs)
    x = raw(v)
    lengths = raw(sequence_lengths).reshape(-1)
    b, t, _ = x.shape
    best = x.argmax(-1)
    decoded = np.full((b, t), -1, np.int32)
    for i in range(b):
        path = best[i, :int(lengths[i])]
        keep = path != mask_index
        if merge_repeated:
            keep &= np.concatenate([[True], path[1:] != path[:-1]])
        seq = path[keep]
        decoded[i, :len(seq)] = seq
    # Keras's score: minus the sum of the per-step maxima (differentiable in the inputs).
    valid = np.arange(t)[None, :] < lengths[:, None]
    picked = gather(lambda a: np.where(valid, np.take_along_axis(a, best[..., None], -1)[..., 0],
                                       0), v)
    from grebe.ops.reduce import sum as _sum
    return out(decoded[None]), -_sum(fl(picked), 1, True)


__all__ = ["ctc_loss", "ctc_decode"]
