"""Optimizers: every update over several steps against an independent numpy transcription of
Keras 3's formulas, and against torch.optim where the semantics coincide; clipping, weight decay,
schedules, state save/restore, in-place updates, config round trips and errors."""
import math

import numpy as np
import pytest

import grebe
from grebe import optimizers
from grebe.optimizers import schedules

SHAPES = [(5, 3), (7,)]
STEPS = 6


def make_weights(seed=0):
    rng = np.random.default_rng(seed)
    return [grebe.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
            for s in SHAPES]


def grad_seq(seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]


# ---- numpy references of Keras 3's update_step, in float64 ------------------------------------
def ref_run(kind, cfg, w0, grads):
    ws = [w.astype(np.float64) for w in w0]
    state = [dict() for _ in ws]
    lr_sched = cfg.get("learning_rate", 0.01)
    wd = cfg.get("weight_decay")
    for t, gs in enumerate(grads):
        lr = lr_sched(t) if callable(lr_sched) else lr_sched
        gs = [g.astype(np.float64) for g in gs]
        if cfg.get("clipnorm"):
            c = cfg["clipnorm"]
            gs = [g * c / max(np.sqrt(np.sum(g * g)), c) for g in gs]
        if cfg.get("global_clipnorm"):
            c = cfg["global_clipnorm"]
            n = math.sqrt(sum(np.sum(g * g) for g in gs))
            gs = [g * c * min(1 / n, 1 / c) for g in gs]
        if cfg.get("clipvalue"):
            gs = [np.clip(g, -cfg["clipvalue"], cfg["clipvalue"]) for g in gs]
        for i, (w, g, s) in enumerate(zip(ws, gs, state)):
            if wd:
                w -= w * wd * lr
            if kind == "sgd":
                m = cfg.get("momentum", 0.0)
                if m:
                    v = s.setdefault("v", np.zeros_like(w))
                    v[...] = m * v - lr * g
                    w += (m * v - lr * g) if cfg.get("nesterov") else v
                else:
                    w -= lr * g
            elif kind == "adam":
                b1, b2, eps = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999), \
                    cfg.get("epsilon", 1e-7)
                m = s.setdefault("m", np.zeros_like(w))
                v = s.setdefault("v", np.zeros_like(w))
                alpha = lr * math.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
                m += (g - m) * (1 - b1)
                v += (g * g - v) * (1 - b2)
                vv = v
                if cfg.get("amsgrad"):
                    vh = s.setdefault("vh", np.zeros_like(w))
                    np.maximum(vh, v, out=vh)
                    vv = vh
                w -= m * alpha / (np.sqrt(vv) + eps)
            elif kind == "rmsprop":
                rho, mom, eps = cfg.get("rho", 0.9), cfg.get("momentum", 0.0), \
                    cfg.get("epsilon", 1e-7)
                v = s.setdefault("v", np.zeros_like(w))
                v[...] = rho * v + (1 - rho) * g * g
                if cfg.get("centered"):
                    a = s.setdefault("a", np.zeros_like(w))
                    a[...] = rho * a + (1 - rho) * g
                    den = v - a * a + eps
                else:
                    den = v + eps
                inc = lr * g / np.sqrt(den)
                if mom:
                    mm = s.setdefault("mom", np.zeros_like(w))
                    mm[...] = mom * mm + inc
                    inc = mm
                w -= inc
            elif kind == "adagrad":
                acc = s.setdefault("acc", np.full_like(w, cfg.get("initial_accumulator_value",
                                                                  0.1)))
                acc += g * g
                w -= lr * g / np.sqrt(acc + cfg.get("epsilon", 1e-7))
    return ws


CASES = [
    ("sgd", optimizers.SGD, {"learning_rate": 0.1}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.1}),
    ("adam", optimizers.Adam, {"learning_rate": 0.01}),
    ("adam", optimizers.Adam, {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8}),
    ("adam", optimizers.AdamW, {"learning_rate": 0.01, "weight_decay": 0.05}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.01}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    ("adagrad", optimizers.Adagrad, {"learning_rate": 0.1}),
    ("adagrad", optimizers.Adagrad, {"learning_rate": 0.1, "initial_accumulator_value": 0.5,
                                     "clipvalue": 0.5}),
    ("adam", optimizers.Adam, {"learning_rate": 0.01, "clipnorm": 1.0}),
    ("sgd", optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9, "global_clipnorm": 1.5}),
    ("rmsprop", optimizers.RMSprop, {"learning_rate": 0.01, "clipvalue": 0.3}),
]


@pytest.mark.parametrize("kind,cls,cfg", CASES, ids=[f"{c[1].__name__}-{i}"
                                                      for i, c in enumerate(CASES)])
def test_matches_keras_formula(kind, cls, cfg):
    ws = make_weights()
    w0 = [w.data.copy() for w in ws]
    ids = [id(w.data) for w in ws]
    grads = grad_seq()
    opt = cls(**cfg)
    for gs in grads:
        opt.apply(gs, ws)
    ref = ref_run(kind, {**cfg, **({"weight_decay": cfg.get("weight_decay", 0.004)}
                                   if cls is optimizers.AdamW else {})}, w0, grads)
    for w, r in zip(ws, ref):
        np.testing.assert_allclose(w.data, r, rtol=2e-5, atol=2e-6)
    assert [id(w.data) for w in ws] == ids, "weights must be updated in place"
    assert opt.iterations == STEPS


def test_schedule_learning_rate_is_read_at_each_step():
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    ws = make_weights()
    w0 = [w.data.copy() for w in ws]
    grads = grad_seq()
    opt = optimizers.SGD(learning_rate=sched, momentum=0.9)
    for gs in grads:
        opt.apply(gs, ws)
    ref = ref_run("sgd", {"learning_rate": lambda t: 0.1 * 0.5 ** (t / 2), "momentum": 0.9},
                  w0, grads)
    for w, r in zip(ws, ref):
        np.testing.assert_allclose(w.data, r, rtol=2e-5, atol=2e-6)
    assert opt.learning_rate == pytest.approx(0.1 * 0.5 ** (STEPS / 2))


TORCH_CASES = [
    (optimizers.SGD, {"learning_rate": 0.1}, "SGD", {"lr": 0.1}),
    (optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9}, "SGD",
     {"lr": 0.1, "momentum": 0.9}),
    (optimizers.SGD, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, "SGD",
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    # With epsilon 0 the epsilon placements (Keras inside sqrt / beside it) agree.
    (optimizers.Adam, {"learning_rate": 0.01, "epsilon": 0.0}, "Adam", {"lr": 0.01, "eps": 0.0}),
    (optimizers.AdamW, {"learning_rate": 0.01, "epsilon": 0.0, "weight_decay": 0.1}, "AdamW",
     {"lr": 0.01, "eps": 0.0, "weight_decay": 0.1}),
    (optimizers.RMSprop, {"learning_rate": 0.01, "epsilon": 0.0}, "RMSprop",
     {"lr": 0.01, "alpha": 0.9, "eps": 0.0}),
    (optimizers.Adagrad, {"learning_rate": 0.1, "epsilon": 0.0}, "Adagrad",
     {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 0.0}),
]


@pytest.mark.parametrize("cls,cfg,tname,tcfg", TORCH_CASES,
                         ids=[c[2] + str(i) for i, c in enumerate(TORCH_CASES)])
def test_matches_torch_where_semantics_agree(cls, cfg, tname, tcfg):
    torch = pytest.importorskip("torch")
    ws = make_weights()
    tws = [torch.tensor(w.data.copy(), requires_grad=True) for w in ws]
    topt = getattr(torch.optim, tname)(tws, **tcfg)
    opt = cls(**cfg)
    for gs in grad_seq():
        for w, g in zip(ws, gs):
            w.grad = g.copy()
        opt.step(ws)
        for tw, g in zip(tws, gs):
            tw.grad = torch.tensor(g)
        topt.step()
    for w, tw in zip(ws, tws):
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_step_and_zero_grad_with_autograd():
    w = grebe.tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    opt = optimizers.SGD(learning_rate=0.5)
    (w * w).sum().backward()
    opt.step([w])                     # builds with [w] and applies w.grad = 2w
    np.testing.assert_allclose(w.data, [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None
    opt.step()                        # no grad: skipped
    assert opt.iterations == 1
    w.grad = np.array([1.0, 1.0])     # float64 set by hand is converted
    opt.step()
    np.testing.assert_allclose(w.data, [-0.5, -0.5])


def test_partial_and_none_gradients():
    ws = make_weights()
    opt = optimizers.Adam(0.01)
    opt.build(ws)
    before = ws[0].data.copy()
    opt.apply([None, np.ones(SHAPES[1], np.float32)], ws)
    np.testing.assert_array_equal(ws[0].data, before)
    assert opt.iterations == 1
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply([None, None], ws)
    other = grebe.tensor(np.zeros(3, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="not one of the 2 weights"):
        opt.apply([np.ones(3, np.float32)], [other])
    with pytest.raises(ValueError, match=r"shape \(7,\), received \(3,\)"):
        opt.apply([np.ones(3, np.float32)], [ws[1]])


@pytest.mark.parametrize("cls,cfg", [(optimizers.Adam, {"amsgrad": True}),
                                     (optimizers.SGD, {"momentum": 0.9}),
                                     (optimizers.RMSprop, {"centered": True, "momentum": 0.3}),
                                     (optimizers.Adagrad, {})])
def test_state_restore_continues_identically(cls, cfg):
    grads = grad_seq()
    ws_a = make_weights()
    opt_a = cls(learning_rate=0.05, **cfg)
    for gs in grads:
        opt_a.apply(gs, ws_a)
    # Interrupted run: 3 steps, save weights + state, fresh optimizer, restore, 3 more steps.
    ws_b = make_weights()
    opt_b = cls(learning_rate=0.05, **cfg)
    for gs in grads[:3]:
        opt_b.apply(gs, ws_b)
    state = opt_b.get_state()
    saved_w = [w.data.copy() for w in ws_b]
    config = opt_b.get_config()
    ws_c = make_weights(seed=99)
    for w, s in zip(ws_c, saved_w):
        w.assign(s)
    opt_c = cls.from_config(config)
    opt_c.set_state(state)           # before build: applied at build
    opt_c.build(ws_c)
    assert opt_c.iterations == 3
    for gs in grads[3:]:
        opt_c.apply(gs, ws_c)
    for a, c in zip(ws_a, ws_c):
        np.testing.assert_array_equal(a.data, c.data)
    assert list(state)[:2] == ["iteration", "learning_rate"]
    assert len(opt_a.variables) == len(state)
    store = {}
    opt_a.save_own_variables(store)
    opt_d = cls(learning_rate=0.05, **cfg)
    opt_d.build(make_weights())
    opt_d.load_own_variables(store)
    for k, v in opt_a.get_state().items():
        np.testing.assert_array_equal(opt_d.get_state()[k], v)


def test_set_state_rejects_mismatch():
    opt = optimizers.Adam()
    opt.build(make_weights())
    state = opt.get_state()
    bad = dict(state)
    bad["momentum_0"] = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="momentum_0"):
        opt.set_state(bad)
    del bad["momentum_0"]
    with pytest.raises(ValueError, match="missing"):
        opt.set_state(bad)


def test_weight_decay_exclusion():
    ws = make_weights()
    ws[1].name = "dense/bias"
    opt = optimizers.AdamW(learning_rate=0.01, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt_ref = optimizers.Adam(learning_rate=0.01)
    ws_ref = make_weights()
    for gs in grad_seq():
        opt.apply(gs, ws)
        opt_ref.apply(gs, ws_ref)
    np.testing.assert_allclose(ws[1].data, ws_ref[1].data, rtol=1e-6)
    assert not np.allclose(ws[0].data, ws_ref[0].data)


def test_loss_scale_factor_unscales():
    ws, ws_ref = make_weights(), make_weights()
    opt = optimizers.SGD(0.1, loss_scale_factor=8.0)
    ref = optimizers.SGD(0.1)
    for gs in grad_seq():
        opt.apply([g * 8 for g in gs], ws)
        ref.apply(gs, ws_ref)
    for a, b in zip(ws, ws_ref):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)


def test_schedules_values():
    e = schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True)
    assert e(25) == pytest.approx(0.1 * 0.9 ** 2)
    assert schedules.ExponentialDecay(0.1, 10, 0.9)(25) == pytest.approx(0.1 * 0.9 ** 2.5)
    p = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [p(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    i = schedules.InverseTimeDecay(0.1, 5, 0.5)
    assert i(10) == pytest.approx(0.1 / (1 + 0.5 * 2))
    c = schedules.CosineDecay(0.1, 100, alpha=0.1)
    assert c(0) == pytest.approx(0.1)
    assert c(50) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    assert c(1000) == pytest.approx(0.01)
    w = schedules.CosineDecay(0.0, 100, warmup_target=0.2, warmup_steps=10)
    assert w(5) == pytest.approx(0.1)
    assert w(10) == pytest.approx(0.2)
    assert w(60) == pytest.approx(0.1)
    poly = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0)
    assert poly(5) == pytest.approx(0.09 * 0.25 + 0.01)
    assert poly(50) == pytest.approx(0.01)
    r = schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5)
    assert r(0) == pytest.approx(0.1)
    assert r(10) == pytest.approx(0.05)   # the second period starts at m_mul * lr
    assert r(20) == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    for s in (e, p, i, c, w, poly, r):
        again = schedules.deserialize(schedules.serialize(s))
        assert type(again) is type(s) and again(7) == pytest.approx(s(7))
    with pytest.raises(ValueError, match="length of boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])


def test_get_config_and_errors():
    opt = optimizers.get("adam")
    assert isinstance(opt, optimizers.Adam) and opt.learning_rate == 0.001
    assert opt.epsilon == 1e-7 and opt.beta_1 == 0.9 and opt.beta_2 == 0.999
    assert optimizers.get("SGD").learning_rate == 0.01
    assert optimizers.get("adamw").weight_decay == 0.004
    assert optimizers.get("adagrad").initial_accumulator_value == 0.1
    assert optimizers.get("rmsprop").rho == 0.9
    sched = schedules.CosineDecay(0.1, 100)
    opt = optimizers.SGD(learning_rate=sched, momentum=0.5, clipnorm=1.0)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(again._learning_rate, schedules.CosineDecay)
    assert again.momentum == 0.5 and again.clipnorm == 1.0
    assert optimizers.get({"class_name": "RMSprop", "config": {"learning_rate": 0.5}}) \
        .learning_rate == 0.5
    with pytest.raises(ValueError, match="only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="could not interpret"):
        optimizers.get("adamax2")
    with pytest.raises(TypeError, match="unrecognized"):
        optimizers.Adam(betas=(0.9, 0.99))
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1
    plain = optimizers.SGD()
    plain.learning_rate = 0.5
    assert plain.learning_rate == 0.5


def test_threads_do_not_change_results():
    rng = np.random.default_rng(3)
    big = rng.standard_normal((300, 400)).astype(np.float32)
    g = rng.standard_normal((300, 400)).astype(np.float32)
    results = []
    before = grebe.get_num_threads()
    try:
        for n in (1, 2):
            grebe.set_num_threads(n)
            w = grebe.tensor(big.copy(), requires_grad=True)
            opt = optimizers.Adam(0.01, global_clipnorm=10.0)
            for _ in range(3):
                opt.apply([g], [w])
            results.append(w.data.copy())
    finally:
        grebe.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


def test_native_update_checks_its_inputs():
    from grebe import _C

    w = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match=r"sgd_update: weights\[0\] must be float32"):
        _C.sgd_update([w.astype(np.float64)], [w], None, 0.1)
    ro = w.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"weights\[0\] is read-only"):
        _C.sgd_update([ro], [w], None, 0.1)
    with pytest.raises(ValueError, match=r"grads\[0\] must have shape \(3,\).*received \(4,\)"):
        _C.sgd_update([w], [np.zeros(4, np.float32)], None, 0.1)
    with pytest.raises(ValueError, match=r"velocities\[0\] must have shape \(3,\)"):
        _C.adam_update([w], [w], [w.copy()], [np.zeros(2, np.float32)], None, 0.1, 0.1, 0.9,
                       0.999, 1e-7)
    with pytest.raises(ValueError, match="1 weights but 2 gradients"):
        _C.adagrad_update([w], [w, w], [w.copy()], 0.1, 1e-7)


def test_schedules_reachable_like_keras():
    from grebe.optimizers.schedules import ExponentialDecay

    assert grebe.optimizers.schedules.ExponentialDecay is ExponentialDecay
