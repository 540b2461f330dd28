// depthwise_conv.cpp — bindings of the depthwise conv kernels (kernels/depthwise_conv.h):
// depthwise_conv2d_forward and depthwise_conv2d_backward. Shapes, dtypes and geometry are
// checked here with the op named; the kernels run with the GIL released.
#include "kernels/depthwise_conv.h"

#include <optional>

#include "bindings/common.h"
#include "bindings/conv_geometry.h"

namespace grebe {
namespace {

using geometry::Pair;
using geometry::Quad;

// The shape of x (N,H,W,C) with kernel (R,S,C,M), checked.
DepthwiseShape make_shape(const char* op, const py::array& x, const py::array& w,
                          const Pair& strides, const Quad& padding, const Pair& dilation) {
    check_f32(x, op, "input", 4);
    check_f32(w, op, "kernel", 4);
    if (w.shape(2) != x.shape(3))
        throw py::value_error(std::string(op) + ": input has " + std::to_string(x.shape(3)) +
                              " channels but kernel expects " + std::to_string(w.shape(2)) +
                              " (kernel shape " + shape_str(w) + ", (R, S, C, multiplier))");
    DepthwiseShape s{};
    s.N = x.shape(0), s.H = x.shape(1), s.W = x.shape(2), s.C = x.shape(3), s.M = w.shape(3);
    s.R = w.shape(0), s.S = w.shape(1);
    if (s.M < 1)
        throw py::value_error(std::string(op) + ": depth multiplier must be positive, kernel "
                              "shape " + shape_str(w));
    const Pair pq = geometry::output_hw(op, s.H, s.W, s.R, s.S, strides, padding, dilation);
    s.SH = strides[0], s.SW = strides[1], s.DH = dilation[0], s.DW = dilation[1];
    s.PT = padding[0], s.PB = padding[1], s.PL = padding[2], s.PR = padding[3];
    s.P = pq[0], s.Q = pq[1];
    return s;
}

// y (N,P,Q,C*M) = depthwise_conv2d(x (N,H,W,C), kernel (R,S,C,M)) + bias (C*M).
f32array forward(const py::array& x, const py::array& w, const std::optional<py::array>& bias,
                 const Pair& strides, const Quad& padding, const Pair& dilation) {
    const char* op = "depthwise_conv2d";
    const DepthwiseShape s = make_shape(op, x, w, strides, padding, dilation);
    const float* b = geometry::optional_bias(op, bias, s.C * s.M);
    f32array y = empty_f32({s.N, s.P, s.Q, s.C * s.M});
    float* yp = y.mutable_data();
    const float *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        depthwise_conv2d_forward(yp, xp, wp, b, s);
    }
    return y;
}

// (dx, dkernel, dbias), each None unless asked for, from dy (N,P,Q,C*M).
py::tuple backward(const py::array& dy, const py::array& x, const py::array& w,
                   const Pair& strides, const Quad& padding, const Pair& dilation, bool need_dx,
                   bool need_dw, bool need_db) {
    const char* op = "depthwise_conv2d_backward";
    const DepthwiseShape s = make_shape(op, x, w, strides, padding, dilation);
    check_f32(dy, op, "output_gradient", 4);
    check_shape(dy, {s.N, s.P, s.Q, s.C * s.M}, op, "output_gradient");
    std::optional<f32array> dx, dw, db;
    float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
    if (need_dx) dx = empty_f32({s.N, s.H, s.W, s.C}), dxp = dx->mutable_data();
    if (need_dw || need_db) dw = empty_f32({s.R, s.S, s.C, s.M}), dwp = dw->mutable_data();
    if (need_db) db = empty_f32({s.C * s.M}), dbp = db->mutable_data();
    const float *dyp = ptr_f32(dy), *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        if (dxp) depthwise_conv2d_backward_data(dxp, dyp, wp, s);
        if (dwp) depthwise_conv2d_backward_weights(dwp, dbp, dyp, xp, s);
    }
    if (!need_dw) dw.reset();
    return py::make_tuple(geometry::or_none(dx), geometry::or_none(dw), geometry::or_none(db));
}

}  // namespace

void bind_depthwise_conv(py::module_& m) {
    m.def("depthwise_conv2d_forward", &forward, py::arg("x"), py::arg("kernel"),
          py::arg("bias"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
          "y (N,P,Q,C*M) = depthwise_conv2d(x (N,H,W,C), kernel (R,S,C,M)) + bias (C*M); "
          "padding is (top, bottom, left, right).");
    m.def("depthwise_conv2d_backward", &backward, py::arg("dy"), py::arg("x"), py::arg("kernel"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("need_dx"),
          py::arg("need_dkernel"), py::arg("need_dbias"),
          "(dx, dkernel, dbias) of depthwise_conv2d, each None unless asked for.");
}

}  // namespace grebe
