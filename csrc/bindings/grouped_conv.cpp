// grouped_conv.cpp — bindings of the grouped conv kernels (kernels/grouped_conv.h):
// grouped_conv2d_forward and grouped_conv2d_backward. Shapes, dtypes, groups and geometry are
// checked here with the op named; the kernels run with the GIL released.
#include "kernels/grouped_conv.h"

#include <optional>

#include "bindings/common.h"
#include "bindings/conv_geometry.h"

namespace grebe {
namespace {

using geometry::Pair;
using geometry::Quad;

// The shape of x (N,H,W,C) with kernel (R,S,C/G,K), checked.
Conv2dShape make_shape(const char* op, const py::array& x, const py::array& w, int64_t G,
                       const Pair& strides, const Quad& padding, const Pair& dilation) {
    check_f32(x, op, "input", 4);
    check_f32(w, op, "kernel", 4);
    if (G < 1)
        throw py::value_error(std::string(op) + ": groups must be positive, received " +
                              std::to_string(G));
    const int64_t C = x.shape(3), K = w.shape(3);
    if (C % G || K % G)
        throw py::value_error(std::string(op) + ": input channels (" + std::to_string(C) +
                              ") and filters (" + std::to_string(K) +
                              ") must be divisible by groups=" + std::to_string(G));
    if (w.shape(2) * G != C)
        throw py::value_error(std::string(op) + ": input has " + std::to_string(C) +
                              " channels, so with groups=" + std::to_string(G) +
                              " the kernel needs " + std::to_string(C / G) +
                              " input channels per group, received kernel shape " +
                              shape_str(w));
    Conv2dShape s{};
    s.N = x.shape(0), s.H = x.shape(1), s.W = x.shape(2), s.C = C, s.K = K;
    s.R = w.shape(0), s.S = w.shape(1);
    const Pair pq = geometry::output_hw(op, s.H, s.W, s.R, s.S, strides, padding, dilation);
    s.SH = strides[0], s.SW = strides[1], s.DH = dilation[0], s.DW = dilation[1];
    s.PT = padding[0], s.PB = padding[1], s.PL = padding[2], s.PR = padding[3];
    s.P = pq[0], s.Q = pq[1];
    return s;
}

// y (N,P,Q,K) = grouped conv2d(x (N,H,W,C), kernel (R,S,C/G,K)) + bias (K).
f32array forward(const py::array& x, const py::array& w, const std::optional<py::array>& bias,
                 const Pair& strides, const Quad& padding, const Pair& dilation, int64_t G) {
    const char* op = "grouped_conv2d";
    const Conv2dShape s = make_shape(op, x, w, G, strides, padding, dilation);
    const float* b = geometry::optional_bias(op, bias, s.K);
    f32array y = empty_f32({s.N, s.P, s.Q, s.K});
    float* yp = y.mutable_data();
    const float *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        grouped_conv2d_forward(yp, xp, wp, b, s, G);
    }
    return y;
}

// (dx, dkernel, dbias), each None unless asked for, from dy (N,P,Q,K).
py::tuple backward(const py::array& dy, const py::array& x, const py::array& w,
                   const Pair& strides, const Quad& padding, const Pair& dilation, int64_t G,
                   bool need_dx, bool need_dw, bool need_db) {
    const char* op = "grouped_conv2d_backward";
    const Conv2dShape s = make_shape(op, x, w, G, strides, padding, dilation);
    check_f32(dy, op, "output_gradient", 4);
    check_shape(dy, {s.N, s.P, s.Q, s.K}, op, "output_gradient");
    std::optional<f32array> dx, dw, db;
    float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
    if (need_dx) dx = empty_f32({s.N, s.H, s.W, s.C}), dxp = dx->mutable_data();
    if (need_dw || need_db) dw = empty_f32({s.R, s.S, s.C / G, s.K}), dwp = dw->mutable_data();
    if (need_db) db = empty_f32({s.K}), dbp = db->mutable_data();
    const float *dyp = ptr_f32(dy), *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        if (dxp) grouped_conv2d_backward_data(dxp, dyp, wp, s, G);
        if (dwp) grouped_conv2d_backward_weights(dwp, dbp, dyp, xp, s, G);
    }
    if (!need_dw) dw.reset();
    return py::make_tuple(geometry::or_none(dx), geometry::or_none(dw), geometry::or_none(db));
}

}  // namespace

void bind_grouped_conv(py::module_& m) {
    m.def("grouped_conv2d_forward", &forward, py::arg("x"), py::arg("kernel"), py::arg("bias"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          "y (N,P,Q,K) = conv2d(x (N,H,W,C), kernel (R,S,C/G,K), groups=G) + bias (K), all "
          "groups in one batched GEMM; padding is (top, bottom, left, right).");
    m.def("grouped_conv2d_backward", &backward, py::arg("dy"), py::arg("x"), py::arg("kernel"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          py::arg("need_dx"), py::arg("need_dkernel"), py::arg("need_dbias"),
          "(dx, dkernel, dbias) of grouped_conv2d, each None unless asked for.");
}

}  // namespace grebe
