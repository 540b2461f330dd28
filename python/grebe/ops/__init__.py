"""Differentiable ops: each a Function (forward/backward pair) calling grebe._C or numpy.

One op family per module; this package re-exports them all as `grebe.ops.<name>`.
"""
from grebe.tensor import define_operators as _define_operators
from grebe.ops.arithmetic import add, divide, multiply, negative, subtract  # noqa: F401
from grebe.ops.reduce import sum  # noqa: F401,A001
from grebe.ops.matmul import matmul  # noqa: F401
from grebe.ops.math import abs, clip, exp, log, maximum, minimum, sqrt, square  # noqa: F401,A001
from grebe.ops.arithmetic import power  # noqa: F401
from grebe.ops.reduce import max, mean, min  # noqa: F401,A001
from grebe.ops.shape import (concatenate, expand_dims, flatten, getitem, pad, permute,  # noqa: F401
                             reshape, split, squeeze, stack, transpose, where)
from grebe.ops.activation import (elu, exponential, gelu, hard_sigmoid, hard_silu,  # noqa: F401
                                  hard_swish, leaky_relu, linear, log_sigmoid, log_softmax, mish,
                                  relu, relu6, selu, sigmoid, silu, softmax, softplus, softsign,
                                  swish, tanh)
from grebe.ops.dense import dense  # noqa: F401
from grebe.ops.conv import conv1d, conv2d, conv2d_relu_maxpool  # noqa: F401
from grebe.ops.pool import (average_pool, avg_pool1d, avg_pool2d, global_avg_pool,  # noqa: F401
                            global_max_pool, max_pool, max_pool1d, max_pool2d)
from grebe.ops.normalization import batch_norm, batch_normalization, layer_norm  # noqa: F401
from grebe.ops.dropout import dropout  # noqa: F401
from grebe.ops.loss import (sigmoid_cross_entropy, softmax_cross_entropy,  # noqa: F401
                             sparse_softmax_cross_entropy)

from grebe.ops.rnn import gru, lstm, simple_rnn  # noqa: F401

# The Tensor operators (+, *, @, .sum(), ...) are these functions (grebe.tensor sits below ops
# and cannot import them).
_define_operators(
    add=add, subtract=subtract, multiply=multiply, divide=divide, negative=negative, power=power,
    matmul=matmul, abs=abs, getitem=getitem, sum=sum, mean=mean, max=max, min=min,
    reshape=reshape, transpose=transpose, exp=exp, log=log, sqrt=sqrt, relu=relu,
    sigmoid=sigmoid, tanh=tanh, softmax=softmax, log_softmax=log_softmax, clip=clip)
