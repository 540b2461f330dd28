"""Optimizer: the Keras 3 base class, with PyTorch-style `step()` / `zero_grad()` on top.

Keras 3 semantics: gradients are unscaled (loss_scale_factor), then clipped (clipnorm,
global_clipnorm or clipvalue, one of them), weights are decayed (w -= w * weight_decay * lr,
decoupled, for every optimizer), then the subclass's update runs and `iterations` grows by one.
The learning rate a step uses is the schedule's value at `iterations` before the step.

Every per-weight update runs in one fused native call (grebe._C.*_update) over lists of
weights: weights are grebe Tensors whose `.data` is updated in place (identity never changes).

>>> import numpy as np, grebe
>>> w = grebe.tensor(np.ones(3, np.float32), requires_grad=True)
>>> opt = grebe.optimizers.SGD(learning_rate=0.1)
>>> opt.apply([np.ones(3, np.float32)], [w])
>>> w.data
array([0.9, 0.9, 0.9], dtype=float32)
"""
from __future__ import annotations

import math
import re

import numpy as np

from grebe import _C
from grebe import constraints as _constraints
from grebe.optimizers import schedules
from grebe.tensor import Tensor

_f32 = np.float32


def _snake(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _opt_float(cls, name, value, *, low=0.0, low_open=True):
    """None, or a float > low (>= low when not low_open); ValueError naming the argument."""
    if value is None:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not (value > low if low_open else value >= low):
        rel = ">" if low_open else ">="
        raise ValueError(f"{cls}: expected a number {rel} {low}. Received: {name}={value!r}")
    return float(value)


class Optimizer:
    """Base class. Subclasses define `_slot_groups` (slot names, Keras's build order) and
    `_update(data, grads, slots, lr, wd, gscale, clip)` (one fused native call)."""

    _slot_groups: tuple = ()  # tuples of slot names, interleaved per weight like Keras's build

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            if "lr" in kwargs or "decay" in kwargs:
                raise ValueError(f"{cls}: argument(s) {sorted(kwargs)} are not supported (Keras "
                                 "3 names: use learning_rate, and a schedule for decay)")
            raise TypeError(f"{cls}: unrecognized keyword arguments: {sorted(kwargs)}")
        clips = [k for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(clips) > 1:
            raise ValueError(f"{cls}: only one of clipnorm, clipvalue and global_clipnorm can be "
                             f"set. Received: {', '.join(clips)}")
        if use_ema:
            raise NotImplementedError(f"{cls}: use_ema=True is not supported yet")
        if gradient_accumulation_steps:
            raise NotImplementedError(f"{cls}: gradient_accumulation_steps is not supported yet")
        self.name = name or _snake(cls)
        self.weight_decay = _opt_float(cls, "weight_decay", weight_decay, low_open=False)
        self.clipnorm = _opt_float(cls, "clipnorm", clipnorm)
        self.clipvalue = _opt_float(cls, "clipvalue", clipvalue)
        self.global_clipnorm = _opt_float(cls, "global_clipnorm", global_clipnorm)
        self.loss_scale_factor = _opt_float(cls, "loss_scale_factor", loss_scale_factor)
        self.use_ema = False
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = None
        self._learning_rate = self._check_lr(learning_rate)
        self._iterations = 0
        self._weights = None  # the built weight list (Tensors)
        self._index = {}  # id(weight) -> position in _weights
        self._slots = {}  # slot name -> list of float32 arrays, aligned with _weights
        self._wd = []  # per-weight weight decay ([] when there is none)
        self._exclude_ids, self._exclude_names = set(), None
        self._pending_state = None
        self.built = False

    # ---- learning rate and counters ------------------------------------------------------
    def _check_lr(self, lr):
        if isinstance(lr, schedules.LearningRateSchedule) or callable(lr):
            return lr
        lr = _opt_float(type(self).__name__, "learning_rate", lr, low_open=False)
        if lr is None:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a float or a "
                             "LearningRateSchedule, received None")
        return lr

    @property
    def learning_rate(self) -> float:
        """The learning rate the next step uses (a schedule evaluated at `iterations`)."""
        lr = self._learning_rate
        if type(lr) is float:
            return lr
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        return float(lr())

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) and \
                not isinstance(value, schedules.LearningRateSchedule):
            raise TypeError(f"{type(self).__name__}: this optimizer was created with a "
                            "LearningRateSchedule as its learning_rate, hence its learning rate "
                            "is not settable. Set a new schedule instead.")
        self._learning_rate = self._check_lr(value)

    @property
    def iterations(self) -> int:
        """How many updates this optimizer has applied."""
        return self._iterations

    @iterations.setter
    def iterations(self, value) -> None:
        self._iterations = int(value)

    # ---- building ------------------------------------------------------------------------
    def build(self, var_list) -> None:
        """Creates the optimizer's slots for `var_list` (grebe Tensors), zero-filled."""
        var_list = list(var_list)
        for i, w in enumerate(var_list):
            if not isinstance(w, Tensor):
                raise TypeError(f"{type(self).__name__}.build: weights must be grebe Tensors, "
                                f"received {type(w).__name__} at position {i}")
            if w.data.dtype != _f32:
                raise TypeError(f"{type(self).__name__}.build: weights must be float32, "
                                f"received dtype {w.data.dtype} for {_wname(w, i)}")
        self._weights = var_list
        self._index = {id(w): i for i, w in enumerate(var_list)}
        self._slots = {name: [self._init_slot(name, w) for w in var_list]
                       for group in self._slot_groups for name in group}
        self._refresh_weight_decay()
        self.built = True
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    def _init_slot(self, name: str, w: Tensor) -> np.ndarray:
        return np.zeros(w.data.shape, _f32)

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Weights (or weights whose name contains one of var_names) get no weight decay."""
        self._exclude_ids |= {id(w) for w in (var_list or ())}
        if var_names:
            self._exclude_names = re.compile("|".join(re.escape(n) for n in var_names))
        if self.built:
            self._refresh_weight_decay()

    def _refresh_weight_decay(self) -> None:
        wd = self.weight_decay
        if not wd:
            self._wd = []
            return
        pat = self._exclude_names
        self._wd = [0.0 if id(w) in self._exclude_ids or
                    (pat is not None and pat.search(w.name or "")) else wd
                    for w in self._weights]

    # ---- applying gradients --------------------------------------------------------------
    def apply(self, grads, trainable_variables=None):
        """Applies `grads` (numpy arrays or Tensors, None to skip) to `trainable_variables`
        (default: the weights the optimizer was built with), Keras 3's `optimizer.apply`."""
        grads = list(grads)
        if trainable_variables is None:
            if not self.built:
                raise ValueError(f"{type(self).__name__}.apply: the optimizer is not built; "
                                 "pass trainable_variables (or call build(weights) first)")
            weights = self._weights
        else:
            weights = list(trainable_variables)
        if len(grads) != len(weights):
            raise ValueError(f"{type(self).__name__}.apply: received {len(grads)} gradients for "
                             f"{len(weights)} weights")
        if not self.built:
            self.build(weights)
        pairs = [(g, w) for g, w in zip(grads, weights) if g is not None]
        if not pairs:
            raise ValueError(f"{type(self).__name__}.apply: no gradients provided for any "
                             "variable")
        arrays = [self._as_grad(g, w) for g, w in pairs]
        self._apply_arrays([w for _, w in pairs], arrays)

    def scale_loss(self, loss):
        """loss * loss_scale_factor (when set), as Keras's train_step scales before backward."""
        return loss * self.loss_scale_factor if self.loss_scale_factor else loss

    def apply_gradients(self, grads_and_vars):
        """`apply` for (gradient, weight) pairs, as tf.keras's apply_gradients."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [w for _, w in pairs])
        return self._iterations

    def step(self, weights=None) -> None:
        """PyTorch style: applies each weight's accumulated `.grad` (weights without a grad are
        skipped). `weights` defaults to the ones the optimizer was built with."""
        if weights is None:
            if not self.built:
                raise ValueError(f"{type(self).__name__}.step: the optimizer has no weights; "
                                 "pass step(weights) once (or call build(weights))")
            weights = self._weights
        elif not self.built:
            self.build(weights)
        grads = [w.grad for w in weights]
        for g in grads:
            if g is None:
                weights = [w for w in weights if w.grad is not None]
                if not weights:
                    return
                grads = [w.grad for w in weights]
                break
        try:
            self._apply_arrays(weights, grads)
        except (TypeError, ValueError):
            # A grad set by hand may be float64, a Tensor or not contiguous: convert and retry
            # (or raise a message that names the weight).
            self._apply_arrays(weights, [self._as_grad(g, w) for g, w in zip(grads, weights)])

    def zero_grad(self, weights=None, set_to_none: bool = True) -> None:
        """Clears `.grad` of the weights (default: the built ones), as PyTorch's zero_grad."""
        for w in (self._weights or ()) if weights is None else weights:
            if set_to_none or w.grad is None:
                w.grad = None
            else:
                w.grad.fill(0.0)

    def _as_grad(self, g, w) -> np.ndarray:
        g = np.ascontiguousarray(g.data if isinstance(g, Tensor) else g, dtype=_f32)
        if g.shape != w.data.shape:
            raise ValueError(f"{type(self).__name__}: the gradient of {_wname(w)} must have the "
                             f"weight's shape {w.data.shape}, received {g.shape}")
        return g

    def _apply_arrays(self, weights, grads) -> None:
        if weights is self._weights:
            slots, wd = self._slots, self._wd
        else:
            idx = [self._position(w) for w in weights]
            slots = {k: [v[i] for i in idx] for k, v in self._slots.items()}
            wd = [self._wd[i] for i in idx] if self._wd else []
        lr = self._learning_rate
        if type(lr) is not float:
            lr = self.learning_rate
        gscale = self._grad_scales(grads) if (self.clipnorm or self.global_clipnorm or
                                              self.loss_scale_factor) else []
        self._update([w.data for w in weights], grads, slots, lr, wd, gscale,
                     self.clipvalue or 0.0)
        self._iterations += 1
        if _constraints._attached:  # weights with kernel_constraint= etc., as Keras's apply
            _constraints.apply_to(weights)

    def _position(self, w) -> int:
        i = self._index.get(id(w))
        if i is None:
            raise ValueError(f"{type(self).__name__}: {_wname(w)} is not one of the "
                             f"{len(self._weights)} weights this optimizer was built with; "
                             "build a new optimizer for a new set of weights")
        return i

    def _grad_scales(self, grads) -> list:
        """Per-gradient factors for loss-scale removal and clip-by-norm (Keras's formulas)."""
        unscale = 1.0 / self.loss_scale_factor if self.loss_scale_factor else 1.0
        if not (self.clipnorm or self.global_clipnorm):
            return [unscale] * len(grads)
        try:
            sq = _C.sum_squares(grads)
        except (TypeError, ValueError):
            sq = [float(np.sum(np.square(g, dtype=np.float64))) for g in grads]
        if self.clipnorm:
            c = self.clipnorm
            return [unscale * c / max(math.sqrt(s) * unscale, c) for s in sq]
        norm = math.sqrt(sum(sq)) * unscale
        c = self.global_clipnorm
        scale = c * min(1.0 / norm, 1.0 / c) if norm > 0 else 1.0
        if not math.isfinite(norm):
            scale = float("nan")
        return [unscale * scale] * len(grads)

    def _update(self, data, grads, slots, lr, wd, gscale, clip) -> None:  # pragma: no cover
        raise NotImplementedError

    # ---- state for checkpoints -----------------------------------------------------------
    def _state_names(self) -> list:
        names = ["iteration"]
        if type(self._learning_rate) is float:
            names.append("learning_rate")
        n = len(self._weights or ())
        for group in self._slot_groups:
            names += [f"{slot}_{i}" for i in range(n) for slot in group]
        return names

    @property
    def variables(self) -> list:
        """The state as numpy arrays, in Keras's order: iteration, learning_rate (when it is a
        float), then the slots (interleaved per weight within each slot group)."""
        return list(self.get_state().values())

    def get_state(self) -> dict:
        """name -> numpy array (copies): 'iteration', 'learning_rate', '<slot>_<weight index>'."""
        state = {"iteration": np.array(self._iterations, np.int64)}
        if type(self._learning_rate) is float:
            state["learning_rate"] = np.array(self._learning_rate, np.float64)
        n = len(self._weights or ())
        for group in self._slot_groups:
            for i in range(n):
                for slot in group:
                    state[f"{slot}_{i}"] = self._slots[slot][i].copy()
        return state

    def set_state(self, state: dict) -> None:
        """Restores `get_state()`'s dict (before build it waits for build(weights))."""
        if not self.built and any(k not in ("iteration", "learning_rate") for k in state):
            self._pending_state = dict(state)
            return
        expected = self._state_names()
        missing = [k for k in expected if k not in state]
        extra = [k for k in state if k not in expected]
        if missing or extra:
            raise ValueError(f"{type(self).__name__}.set_state: the state does not fit this "
                             f"optimizer (missing {missing[:5]}, unexpected {extra[:5]})")
        for key in expected[1:]:
            if key == "learning_rate":
                self._learning_rate = float(np.asarray(state[key]))
                continue
            slot, i = key.rsplit("_", 1)
            dst = self._slots[slot][int(i)]
            src = np.asarray(state[key], dtype=_f32)
            if src.shape != dst.shape:
                raise ValueError(f"{type(self).__name__}.set_state: '{key}' has shape "
                                 f"{src.shape}, expected {dst.shape}")
            dst[...] = src
        self._iterations = int(np.asarray(state["iteration"]))

    def save_own_variables(self, store) -> None:
        """Keras's saving hook: store['0'], store['1'], ... = `variables`."""
        for i, v in enumerate(self.variables):
            store[str(i)] = v

    def load_own_variables(self, store) -> None:
        names = self._state_names()
        if len(store) != len(names):
            raise ValueError(f"{type(self).__name__}.load_own_variables: expected "
                             f"{len(names)} variables, received {len(store)}")
        self.set_state({name: store[str(i)] for i, name in enumerate(names)})

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif type(lr) is not float:
            lr = self.learning_rate
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate}>"


def _wname(w, i=None) -> str:
    name = getattr(w, "name", None)
    if name:
        return f"weight '{name}' {tuple(w.data.shape)}"
    return f"weight {tuple(w.data.shape)}" + ("" if i is None else f" at position {i}")
