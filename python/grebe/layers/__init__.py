"""Keras-style layers. Each module holds one family; this package re-exports them."""
from grebe.layers.layer import Layer  # noqa: F401
from grebe.layers.input_layer import Input, InputLayer  # noqa: F401
from grebe.layers.core import Activation, Dense, Identity  # noqa: F401
from grebe.layers.lambda_layer import Lambda  # noqa: F401
from grebe.layers.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: F401
from grebe.layers.preprocessing import (RandomFlip, RandomRotation,  # noqa: F401
                                        RandomTranslation, Rescaling)
from grebe.layers.preprocessing_normalization import Normalization  # noqa: F401
from grebe.layers.conv import Conv1D, Conv2D, Convolution1D, Convolution2D  # noqa: F401
from grebe.layers.conv_transpose import (  # noqa: F401
    Conv1DTranspose, Conv2DTranspose, Convolution1DTranspose, Convolution2DTranspose)
from grebe.layers.depthwise_conv import DepthwiseConv1D, DepthwiseConv2D  # noqa: F401
from grebe.layers.separable_conv import (  # noqa: F401
    SeparableConv1D, SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from grebe.layers.merging import (  # noqa: F401
    Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract,
    add, average, concatenate, maximum, minimum, multiply, subtract)
from grebe.layers.pooling import (  # noqa: F401
    AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from grebe.layers.reshaping import (  # noqa: F401
    Cropping1D, Cropping2D, Flatten, Reshape, ZeroPadding1D, ZeroPadding2D)
from grebe.layers.regularization import (  # noqa: F401
    ActivityRegularization, AlphaDropout, Dropout, GaussianDropout, GaussianNoise,
    SpatialDropout1D, SpatialDropout2D)
from grebe.layers.upsampling import Permute, RepeatVector, UpSampling1D, UpSampling2D  # noqa: F401
from grebe.layers.group_normalization import GroupNormalization, UnitNormalization  # noqa: F401
from grebe.layers.normalization import BatchNormalization, LayerNormalization  # noqa: F401
from grebe.layers.rnn import (  # noqa: F401
    GRU, LSTM, RNN, Bidirectional, ConvLSTM1D, ConvLSTM2D, GRUCell, LSTMCell, SimpleRNN,
    SimpleRNNCell, StackedRNNCells, TimeDistributed)
from grebe.layers.embedding import Embedding, Masking  # noqa: F401
from grebe.serialization import (  # noqa: F401
    deserialize, register_serializable, serialize)

