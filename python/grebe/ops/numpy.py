"""keras.ops.numpy: the NumPy-like half of Keras's ops (creation, math, reductions, shape
manipulation, indexing, products, searching), gathered from the np_* modules."""
from grebe.ops.np_create import *  # noqa: F401,F403
from grebe.ops.np_create import __all__ as _create
from grebe.ops.np_math import *  # noqa: F401,F403
from grebe.ops.np_math import __all__ as _math
from grebe.ops.np_products import *  # noqa: F401,F403
from grebe.ops.np_products import __all__ as _products
from grebe.ops.np_reduce import *  # noqa: F401,F403
from grebe.ops.np_reduce import __all__ as _reduce
from grebe.ops.np_search import *  # noqa: F401,F403
from grebe.ops.np_search import __all__ as _search
from grebe.ops.np_shape import *  # noqa: F401,F403
from grebe.ops.np_shape import __all__ as _shape
from grebe.ops.core import vectorize  # noqa: F401  (keras.ops.numpy has these two too)
from grebe.ops.linalg import slogdet  # noqa: F401

__all__ = sorted(set(_create + _math + _products + _reduce + _search + _shape +
                     ["vectorize", "slogdet"]))
