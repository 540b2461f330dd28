"""Callbacks: hooks that fit/evaluate/predict call at the start and end of training, of each
epoch and of each batch, with Keras 3's names, arguments and semantics. One file per callback.

>>> import grebe
>>> stop = grebe.callbacks.EarlyStopping(monitor="val_loss", patience=3,
...                                      restore_best_weights=True)
>>> # model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])
"""
from grebe.callbacks.callback import Callback
from grebe.callbacks.callback_list import CallbackList
from grebe.callbacks.csv_logger import CSVLogger
from grebe.callbacks.early_stopping import EarlyStopping
from grebe.callbacks.history import History
from grebe.callbacks.lambda_callback import LambdaCallback
from grebe.callbacks.learning_rate_scheduler import LearningRateScheduler
from grebe.callbacks.model_checkpoint import ModelCheckpoint
from grebe.callbacks.monitor import metric_direction  # noqa: F401  (was public in callbacks.py)
from grebe.callbacks.progbar_logger import ProgbarLogger
from grebe.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from grebe.callbacks.tensorboard import TensorBoard
from grebe.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN",
           "CSVLogger", "LambdaCallback", "TensorBoard"]
