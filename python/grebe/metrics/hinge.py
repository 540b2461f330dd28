"""Hinge metrics: hinge, squared hinge and categorical hinge (the loss functions, run without gradients)."""
from __future__ import annotations

from grebe.metrics.metric import _loss_metric, MeanMetricWrapper


hinge = _loss_metric("hinge")
squared_hinge = _loss_metric("squared_hinge")
categorical_hinge = _loss_metric("categorical_hinge")


class Hinge(MeanMetricWrapper):
    """Running mean of the hinge loss."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Running mean of the squared hinge loss."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Running mean of the categorical hinge loss."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)
