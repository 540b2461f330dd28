// conv_geometry.h — the geometry checks the depthwise and grouped conv bindings share: strides,
// dilations, padding and kernel size validated with the op named in the message, and the
// output size computed (conv2d_output_size, kernels/conv.h).
#pragma once
#include <array>
#include <optional>
#include <string>

#include "bindings/common.h"
#include "kernels/conv.h"

namespace grebe {
namespace geometry {

using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

inline std::string pair_str(const Pair& p) {
    return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}

// Checks the geometry of a conv over (H, W) with an (R, S) kernel; returns the output (P, Q).
inline Pair output_hw(const char* op, int64_t H, int64_t W, int64_t R, int64_t S,
                      const Pair& strides, const Quad& padding, const Pair& dilation) {
    for (int64_t v : strides)
        if (v < 1)
            throw py::value_error(std::string(op) + ": strides must be positive, received " +
                                  pair_str(strides));
    for (int64_t v : dilation)
        if (v < 1)
            throw py::value_error(std::string(op) + ": dilation_rate must be positive, "
                                  "received " + pair_str(dilation));
    for (int64_t v : padding)
        if (v < 0)
            throw py::value_error(std::string(op) + ": padding must be >= 0, received (" +
                                  std::to_string(padding[0]) + ", " +
                                  std::to_string(padding[1]) + ", " +
                                  std::to_string(padding[2]) + ", " +
                                  std::to_string(padding[3]) + ")");
    if (R < 1 || S < 1)
        throw py::value_error(std::string(op) + ": kernel size must be positive, received " +
                              pair_str({R, S}));
    const int64_t P = conv2d_output_size(H, R, strides[0], dilation[0], padding[0], padding[1]);
    const int64_t Q = conv2d_output_size(W, S, strides[1], dilation[1], padding[2], padding[3]);
    if (P <= 0 || Q <= 0)
        throw py::value_error(std::string(op) + ": kernel " + pair_str({R, S}) +
                              " with dilation_rate " + pair_str(dilation) +
                              " does not fit the padded input " +
                              pair_str({H + padding[0] + padding[1], W + padding[2] + padding[3]}) +
                              " (input " + pair_str({H, W}) + ")");
    return {P, Q};
}

inline const float* optional_bias(const char* op, const std::optional<py::array>& bias,
                                  int64_t K) {
    if (!bias) return nullptr;
    check_f32(*bias, op, "bias", 1);
    check_shape(*bias, {K}, op, "bias");
    return ptr_f32(*bias);
}

inline py::object or_none(std::optional<f32array>& a) {
    return a ? py::object(*a) : py::object(py::none());
}

}  // namespace geometry
}  // namespace grebe
