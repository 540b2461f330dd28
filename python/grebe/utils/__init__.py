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
from grebe.utils.dataset_utils import split_dataset  # noqa: F401
from grebe.utils.image_utils import (array_to_img, img_to_array, load_img,  # noqa: F401
                                     save_img)
from grebe.utils.model_visualization import model_to_dot, plot_model  # noqa: F401
from grebe.utils.py_dataset import PyDataset  # noqa: F401

__all__ = ["PyDataset", "array_to_img", "get_file", "img_to_array", "load_img", "model_to_dot",
           "normalize", "pad_sequences", "plot_history", "plot_model", "save_img",
           "set_random_seed", "split_dataset", "to_categorical", "train_test_split",
           "validate_file"]
