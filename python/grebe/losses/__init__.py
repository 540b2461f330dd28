"""Losses with Keras 3's names, arguments and numerics: functions give per-sample losses,
classes reduce them ('sum_over_batch_size' by default, 'sum', 'none') with optional sample
weights. y_pred is a Tensor (differentiable), y_true a constant (numpy array or Tensor).

Cross-entropy after a softmax or a sigmoid runs in the fused log-sum-exp form on the logits that
op received (as Keras does for TensorFlow), so huge logits give finite losses and exact
gradients; from_logits=True takes that path directly. Otherwise probabilities are clipped to
[1e-7, 1 - 1e-7] as in Keras.

>>> import grebe, numpy as np
>>> loss_fn = grebe.losses.SparseCategoricalCrossentropy(from_logits=True)
>>> logits = grebe.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 0.0]], requires_grad=True)
>>> loss = loss_fn(np.array([0, 1]), logits)
>>> loss.backward(); round(float(loss), 4)
0.1681
"""
from __future__ import annotations

from grebe.losses.focal import (BinaryFocalCrossentropy, CategoricalFocalCrossentropy,
                               CategoricalGeneralizedCrossEntropy, binary_focal_crossentropy,
                               categorical_focal_crossentropy,
                               categorical_generalized_cross_entropy)
from grebe.losses.overlap import Dice, Tversky, dice, tversky
from grebe.losses.hinge import (CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge,
                                squared_hinge)
from grebe.losses.loss import Loss, LossFunctionWrapper, reduce_values  # noqa: F401
from grebe.losses.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy,
                                        KLDivergence, Poisson, SparseCategoricalCrossentropy,
                                        binary_crossentropy, categorical_crossentropy,
                                        kl_divergence, poisson, sparse_categorical_crossentropy)
from grebe.losses.regression import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
                                     MeanAbsolutePercentageError, MeanSquaredError,
                                     MeanSquaredLogarithmicError, cosine_similarity, huber,
                                     log_cosh, mean_absolute_error,
                                     mean_absolute_percentage_error, mean_squared_error,
                                     mean_squared_logarithmic_error)

# Keras's short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

# ---- lookup ------------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Huber, LogCosh, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge, CosineSimilarity, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, BinaryFocalCrossentropy, CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy, Dice, Tversky)}
_FUNCTIONS = {
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": mse,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": mae,
    "mean_absolute_percentage_error": mape, "mape": mape, "MAPE": mape,
    "mean_squared_logarithmic_error": msle, "msle": msle, "MSLE": msle,
    "huber": huber, "huber_loss": huber, "log_cosh": log_cosh, "logcosh": log_cosh,
    "kl_divergence": kl_divergence, "kld": kld, "KLD": kld,
    "kullback_leibler_divergence": kl_divergence, "poisson": poisson, "hinge": hinge,
    "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "cosine_similarity": cosine_similarity, "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy,
    "categorical_generalized_cross_entropy": categorical_generalized_cross_entropy,
    "dice": dice, "tversky": tversky}
_CLASS_OF = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
             mape: MeanAbsolutePercentageError, msle: MeanSquaredLogarithmicError,
             huber: Huber, log_cosh: LogCosh, kl_divergence: KLDivergence, poisson: Poisson,
             hinge: Hinge, squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
             cosine_similarity: CosineSimilarity, binary_crossentropy: BinaryCrossentropy,
             categorical_crossentropy: CategoricalCrossentropy,
             sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
             binary_focal_crossentropy: BinaryFocalCrossentropy,
             categorical_focal_crossentropy: CategoricalFocalCrossentropy,
             dice: Dice, tversky: Tversky}


def serialize(loss) -> dict | str:
    from grebe import registry

    if isinstance(loss, Loss):
        return {"module": "grebe.losses", "class_name": type(loss).__name__,
                "config": loss.get_config(),
                "registered_name": registry.get_registered_name(type(loss))}
    name = getattr(loss, "__name__", None)
    if name in _FUNCTIONS:
        return name
    if callable(loss) and name is not None:  # a custom function, found again by its name
        return registry.get_registered_name(loss)
    raise ValueError(f"losses.serialize: cannot serialize {loss!r}")


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"losses.deserialize: expected a name or a dict with 'class_name', "
                         f"received {config!r}")
    from grebe import registry

    name = config["class_name"]
    cls = registry.lookup(config.get("registered_name"), name,
                          custom_objects=custom_objects) or _CLASSES.get(name) or \
        (LossFunctionWrapper if name == "LossFunctionWrapper" else None)
    if cls is None:
        raise ValueError(f"losses.deserialize: unknown loss '{name}'")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """Keras's losses.get: a function name ('mse', 'categorical_crossentropy') gives the
    function, a class name ('MeanSquaredError') an instance, a dict its deserialized Loss; a
    callable is returned as is; None gives None."""
    if identifier is None or callable(identifier) and not isinstance(identifier, str):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        from grebe import registry

        found = registry.lookup(identifier)  # a registered or scoped custom loss
        if found is not None:
            return found() if isinstance(found, type) else found
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def resolve(identifier) -> Loss | None:
    """Always a Loss object (what `Model.compile` needs): built-in functions become their class
    with default arguments (so the fused path is used), other callables a LossFunctionWrapper."""
    obj = get(identifier)
    if obj is None or isinstance(obj, Loss):
        return obj
    if isinstance(obj, type) and issubclass(obj, Loss):
        return obj()
    cls = _CLASS_OF.get(obj)
    if cls is not None:
        return cls()
    return LossFunctionWrapper(obj)
