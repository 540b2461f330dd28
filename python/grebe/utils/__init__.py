"""grebe.utils: Keras's utilities — labels to one-hot, normalization, seeding, data splits,
sequence padding, the file cache, image files, PyDataset, and pictures of models and of
learning curves.

>>> import grebe
>>> grebe.utils.to_categorical([0, 2, 1], 3)
array([[1., 0., 0.],
       [0., 0., 1.],
       [0., 1., 0.]], dtype=float32)
"""
from grebe.utils.general import (normalize, plot_history, set_random_seed,  # noqa: F401
                                 to_categorical, train_test_split)
from grebe.utils.file_utils import get_file, validate_file  # noqa: F401
from grebe.utils.sequence import pad_sequences  # noqa: F401

__all__ = ["get_file", "normalize", "pad_sequences", "plot_history", "set_random_seed",
           "to_categorical", "train_test_split", "validate_file"]
