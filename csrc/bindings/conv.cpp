// conv.cpp — bindings of the conv kernels (kernels/conv.h): conv2d_forward,
// conv2d_backward_data, conv2d_backward_weights. Every shape, dtype and size is checked here,
// with the op, the argument and the expected vs received values in the message; the kernels
// run with the GIL released.
#include "kernels/conv.h"

#include <array>
#include <optional>

#include "bindings/common.h"
#include "bindings/variants.h"

namespace grebe {
namespace {

using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;
constexpr int64_t kMaxGeom = 2147483647;  // INT32_MAX: the largest stride/dilation/pad/size

std::string pair_str(const Pair& p) {
    return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}

// Strides, dilations, padding and kernel size: positive (padding >= 0) and at most INT32_MAX,
// so the geometry computed from them cannot overflow int64.
void check_geometry(const char* op, int64_t R, int64_t S, const Pair& strides,
                    const Quad& padding, const Pair& dilation) {
    // Every size is at most INT32_MAX, so the geometry below cannot overflow int64.
    for (int64_t v : strides)
        if (v < 1 || v > kMaxGeom)
            throw py::value_error(std::string(op) + ": strides must be positive and at most " +
                                  std::to_string(kMaxGeom) + ", received " + pair_str(strides));
    for (int64_t v : dilation)
        if (v < 1 || v > kMaxGeom)
            throw py::value_error(std::string(op) + ": dilation_rate must be positive and at "
                                  "most " + std::to_string(kMaxGeom) + ", received " +
                                  pair_str(dilation));
    for (int64_t v : padding)
        if (v < 0 || v > kMaxGeom)
            throw py::value_error(std::string(op) + ": padding must be >= 0 and at most 2147483647, received (" +
                                  std::to_string(padding[0]) + ", " + std::to_string(padding[1]) +
                                  ", " + std::to_string(padding[2]) + ", " +
                                  std::to_string(padding[3]) + ")");
    if (R < 1 || S < 1 || R > kMaxGeom || S > kMaxGeom)
        throw py::value_error(std::string(op) + ": kernel size must be positive, received " +
                              pair_str({R, S}));
}

// The geometry every conv binding shares: checks strides, dilations and padding, fills s.
Conv2dShape make_shape(const char* op, int64_t N, int64_t H, int64_t W, int64_t C, int64_t R,
                       int64_t S, int64_t K, const Pair& strides, const Quad& padding,
                       const Pair& dilation) {
    check_geometry(op, R, S, strides, padding, dilation);
    Conv2dShape s{};
    s.N = N, s.H = H, s.W = W, s.C = C, s.K = K, s.R = R, s.S = S;
    s.SH = strides[0], s.SW = strides[1], s.DH = dilation[0], s.DW = dilation[1];
    s.PT = padding[0], s.PB = padding[1], s.PL = padding[2], s.PR = padding[3];
    s.P = conv2d_output_size(H, R, s.SH, s.DH, s.PT, s.PB);
    s.Q = conv2d_output_size(W, S, s.SW, s.DW, s.PL, s.PR);
    if (s.P <= 0 || s.Q <= 0)
        throw py::value_error(
            std::string(op) + ": kernel " + pair_str({R, S}) + " with dilation_rate " +
            pair_str(dilation) + " does not fit the padded input " +
            pair_str({H + s.PT + s.PB, W + s.PL + s.PR}) + " (input " + pair_str({H, W}) + ")");
    return s;
}

void check_kernel_channels(const char* op, const py::array& w, int64_t C) {
    if (w.shape(2) != C)
        throw py::value_error(std::string(op) + ": input has " + std::to_string(C) +
                              " channels but kernel expects " + std::to_string(w.shape(2)) +
                              " (kernel shape " + shape_str(w) + ")");
}

// y (N,P,Q,K) = act(conv(x (N,H,W,C), w (R,S,C,K)) + bias (K)).
f32array forward(const ConvKernels& k, const py::array& x, const py::array& w,
                 const std::optional<py::array>& bias, const Pair& strides, const Quad& padding,
                 const Pair& dilation, bool relu) {
    const std::string op_name = std::string("conv2d") + k.suffix;
    const char* op = op_name.c_str();
    check_f32(x, op, "input", 4);
    check_f32(w, op, "kernel", 4);
    check_kernel_channels(op, w, x.shape(3));
    const Conv2dShape s = make_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                     w.shape(0), w.shape(1), w.shape(3), strides, padding,
                                     dilation);
    const float* b = nullptr;
    if (bias) {
        check_f32(*bias, op, "bias", 1);
        check_shape(*bias, {s.K}, op, "bias");
        b = ptr_f32(*bias);
    }
    f32array y = empty_f32({s.N, s.P, s.Q, s.K});
    float* yp = y.mutable_data();
    const float *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        k.forward(yp, xp, wp, b, relu, s);
    }
    return y;
}

// The relu mask argument: the forward output, shaped like dy.
const float* relu_mask(const char* op, const std::optional<py::array>& relu_y,
                       const py::array& dy) {
    if (!relu_y) return nullptr;
    check_f32(*relu_y, op, "relu_output", 4);
    check_shape(*relu_y, {dy.shape(0), dy.shape(1), dy.shape(2), dy.shape(3)}, op,
                "relu_output");
    return ptr_f32(*relu_y);
}

// dx (N,H,W,C) from dy (N,P,Q,K) and w (R,S,C,K); input_hw = (H, W).
f32array backward_data(const ConvKernels& k, const py::array& dy, const py::array& w,
                       const std::optional<py::array>& relu_y, const Pair& input_hw,
                       const Pair& strides, const Quad& padding, const Pair& dilation) {
    const std::string op_name = std::string("conv2d_backward_data") + k.suffix;
    const char* op = op_name.c_str();
    check_f32(dy, op, "output_gradient", 4);
    check_f32(w, op, "kernel", 4);
    if (input_hw[0] < 1 || input_hw[1] < 1)
        throw py::value_error(std::string(op) + ": input size must be positive, received " +
                              pair_str(input_hw));
    const Conv2dShape s = make_shape(op, dy.shape(0), input_hw[0], input_hw[1], w.shape(2),
                                     w.shape(0), w.shape(1), w.shape(3), strides, padding,
                                     dilation);
    check_shape(dy, {s.N, s.P, s.Q, s.K}, op, "output_gradient");
    const float* mask = relu_mask(op, relu_y, dy);
    f32array dx = empty_f32({s.N, s.H, s.W, s.C});
    float* dxp = dx.mutable_data();
    const float *dyp = ptr_f32(dy), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        k.backward_data(dxp, dyp, mask, wp, s);
    }
    return dx;
}

// (dw (R,S,C,K), db (K) or None) from x (N,H,W,C) and dy (N,P,Q,K); kernel_size = (R, S).
py::tuple backward_weights(const ConvKernels& k, const py::array& x, const py::array& dy,
                           const std::optional<py::array>& relu_y, const Pair& kernel_size,
                           const Pair& strides, const Quad& padding, const Pair& dilation,
                           bool with_bias) {
    const std::string op_name = std::string("conv2d_backward_weights") + k.suffix;
    const char* op = op_name.c_str();
    check_f32(x, op, "input", 4);
    check_f32(dy, op, "output_gradient", 4);
    const Conv2dShape s = make_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                     kernel_size[0], kernel_size[1], dy.shape(3), strides,
                                     padding, dilation);
    check_shape(dy, {s.N, s.P, s.Q, s.K}, op, "output_gradient");
    const float* mask = relu_mask(op, relu_y, dy);
    f32array dw = empty_f32({s.R, s.S, s.C, s.K});
    std::optional<f32array> db;
    float* dbp = nullptr;
    if (with_bias) {
        db = empty_f32({s.K});
        dbp = db->mutable_data();
    }
    float* dwp = dw.mutable_data();
    const float *xp = ptr_f32(x), *dyp = ptr_f32(dy);
    {
        py::gil_scoped_release release;
        k.backward_weights(dwp, dbp, dyp, mask, xp, s);
    }
    if (db) return py::make_tuple(dw, *db);
    return py::make_tuple(dw, py::none());
}

// (dx or None, dw or None, db or None) in one call: the relu mask is applied once when both
// gradients are wanted. x (N,H,W,C), dy (N,P,Q,K), w (R,S,C,K).
py::tuple backward(const ConvKernels& k, const py::array& dy, const py::array& x,
                   const py::array& w,
                   const std::optional<py::array>& relu_y, const Pair& strides,
                   const Quad& padding, const Pair& dilation, bool need_dx, bool need_dw,
                   bool need_db) {
    const std::string op_name = std::string("conv2d_backward") + k.suffix;
    const char* op = op_name.c_str();
    check_f32(dy, op, "output_gradient", 4);
    check_f32(x, op, "input", 4);
    check_f32(w, op, "kernel", 4);
    check_kernel_channels(op, w, x.shape(3));
    const Conv2dShape s = make_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                     w.shape(0), w.shape(1), w.shape(3), strides, padding,
                                     dilation);
    check_shape(dy, {s.N, s.P, s.Q, s.K}, op, "output_gradient");
    const float* mask = relu_mask(op, relu_y, dy);
    std::optional<f32array> dx, dw, db;
    float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
    if (need_dx) dx = empty_f32({s.N, s.H, s.W, s.C}), dxp = dx->mutable_data();
    if (need_dw || need_db) dw = empty_f32({s.R, s.S, s.C, s.K}), dwp = dw->mutable_data();
    if (need_db) db = empty_f32({s.K}), dbp = db->mutable_data();
    const float *dyp = ptr_f32(dy), *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        k.backward(dxp, dwp, dbp, dyp, mask, xp, wp, s);
    }
    auto or_none = [](std::optional<f32array>& a) -> py::object {
        return a ? py::object(*a) : py::object(py::none());
    };
    if (!need_dw) dw.reset();
    return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
}

using u8array = py::array_t<uint8_t, py::array::c_style>;

// The pooled shape (N, P2, Q2, K) of the fused conv + relu + max pooling, checked.
std::vector<py::ssize_t> pooled_shape(const char* op, const Conv2dShape& s, const Pair& pool) {
    if (pool[0] < 1 || pool[1] < 1 || pool[0] * pool[1] > 256)
        throw py::value_error(std::string(op) + ": pool_size must be positive with at most 256 "
                              "positions, received " + pair_str(pool));
    if (s.P < pool[0] || s.Q < pool[1])
        throw py::value_error(std::string(op) + ": pool_size " + pair_str(pool) +
                              " is larger than the conv output " + pair_str({s.P, s.Q}));
    return {s.N, s.P / pool[0], s.Q / pool[1], s.K};
}

// (yp (N,P2,Q2,K), argmax u8 (N,P2,Q2,K)) = max_pool(relu(conv2d(x, w) + bias)), pool stride =
// pool size, 'valid'.
py::tuple relu_maxpool_forward(const ConvKernels& k, const py::array& x, const py::array& w,
                               const std::optional<py::array>& bias, const Pair& strides,
                               const Quad& padding, const Pair& dilation, const Pair& pool) {
    const std::string op_name = std::string("conv2d_relu_maxpool") + k.suffix;
    const char* op = op_name.c_str();
    check_f32(x, op, "input", 4);
    check_f32(w, op, "kernel", 4);
    check_kernel_channels(op, w, x.shape(3));
    const Conv2dShape s = make_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                     w.shape(0), w.shape(1), w.shape(3), strides, padding,
                                     dilation);
    const auto shape = pooled_shape(op, s, pool);
    const float* b = nullptr;
    if (bias) {
        check_f32(*bias, op, "bias", 1);
        check_shape(*bias, {s.K}, op, "bias");
        b = ptr_f32(*bias);
    }
    f32array yp = empty_f32(shape);
    u8array am(shape);
    float* ypp = yp.mutable_data();
    uint8_t* amp = am.mutable_data();
    const float *xp = ptr_f32(x), *wp = ptr_f32(w);
    {
        py::gil_scoped_release release;
        k.relu_maxpool_forward(ypp, amp, xp, wp, b, s, pool[0], pool[1]);
    }
    return py::make_tuple(yp, am);
}

// (dx, dw, db), each None unless asked for, of the fused op, from dyp (N,P2,Q2,K) and the
// forward's argmax and yp.
py::tuple relu_maxpool_backward(const ConvKernels& k, const py::array& dyp, const py::array& argmax,
                                const py::array& yp, const py::array& x, const py::array& w,
                                const Pair& strides, const Quad& padding, const Pair& dilation,
                                const Pair& pool, bool need_dx, bool need_dw, bool need_db) {
    const std::string op_name = std::string("conv2d_relu_maxpool_backward") + k.suffix;
    const char* op = op_name.c_str();
    check_f32(dyp, op, "output_gradient", 4);
    check_f32(yp, op, "output", 4);
    check_f32(x, op, "input", 4);
    check_f32(w, op, "kernel", 4);
    if (!py::isinstance<u8array>(argmax) || argmax.dtype().kind() != 'u' ||
        argmax.dtype().itemsize() != 1 || !(argmax.flags() & py::array::c_style))
        throw py::type_error(std::string(op) + ": argmax must be a C-contiguous uint8 array");
    check_kernel_channels(op, w, x.shape(3));
    const Conv2dShape s = make_shape(op, x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                     w.shape(0), w.shape(1), w.shape(3), strides, padding,
                                     dilation);
    const auto shape = pooled_shape(op, s, pool);
    std::initializer_list<int64_t> want = {shape[0], shape[1], shape[2], shape[3]};
    check_shape(dyp, want, op, "output_gradient");
    check_shape(yp, want, op, "output");
    check_shape(argmax, want, op, "argmax");
    std::optional<f32array> dx, dw, db;
    float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
    if (need_dx) dx = empty_f32({s.N, s.H, s.W, s.C}), dxp = dx->mutable_data();
    if (need_dw || need_db) dw = empty_f32({s.R, s.S, s.C, s.K}), dwp = dw->mutable_data();
    if (need_db) db = empty_f32({s.K}), dbp = db->mutable_data();
    const float *dypp = ptr_f32(dyp), *ypp = ptr_f32(yp), *xp = ptr_f32(x), *wp = ptr_f32(w);
    const uint8_t* amp = static_cast<const uint8_t*>(argmax.data());
    {
        py::gil_scoped_release release;
        k.relu_maxpool_backward(dxp, dwp, dbp, dypp, amp, ypp, xp, wp, s, pool[0], pool[1]);
    }
    auto or_none = [](std::optional<f32array>& a) -> py::object {
        return a ? py::object(*a) : py::object(py::none());
    };
    if (!need_dw) dw.reset();
    return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
}

}  // namespace

void bind_conv_ops(py::module_& m, const ConvKernels& k) {
    using opt = const std::optional<py::array>&;
    const std::string sx = k.suffix, doc = k.doc;
    m.def(keep("conv2d_forward" + sx),
          [k](const py::array& x, const py::array& w, opt bias, const Pair& strides,
              const Quad& padding, const Pair& dilation, bool relu) {
              return forward(k, x, w, bias, strides, padding, dilation, relu);
          },
          py::arg("x"), py::arg("kernel"), py::arg("bias"),
          py::arg("strides"), py::arg("padding"), py::arg("dilation"), py::arg("relu"),
          keep(doc + "y (N,P,Q,K) = act(conv2d(x (N,H,W,C), kernel (R,S,C,K)) + bias (K)); "
               "padding is (top, bottom, left, right); relu fuses max(0, .) into the store."));
    m.def(keep("conv2d_backward_data" + sx),
          [k](const py::array& dy, const py::array& w, opt relu_y, const Pair& input_hw,
              const Pair& strides, const Quad& padding, const Pair& dilation) {
              return backward_data(k, dy, w, relu_y, input_hw, strides, padding, dilation);
          },
          py::arg("dy"), py::arg("kernel"),
          py::arg("relu_output"), py::arg("input_hw"), py::arg("strides"), py::arg("padding"),
          py::arg("dilation"),
          keep(doc + "dx (N,H,W,C) of conv2d; relu_output (the relu-fused forward's y) masks "
               "dy."));
    m.def(keep("conv2d_backward_weights" + sx),
          [k](const py::array& x, const py::array& dy, opt relu_y, const Pair& kernel_size,
              const Pair& strides, const Quad& padding, const Pair& dilation, bool with_bias) {
              return backward_weights(k, x, dy, relu_y, kernel_size, strides, padding,
                                      dilation, with_bias);
          },
          py::arg("x"), py::arg("dy"),
          py::arg("relu_output"), py::arg("kernel_size"), py::arg("strides"),
          py::arg("padding"), py::arg("dilation"), py::arg("bias"),
          keep(doc + "(dkernel (R,S,C,K), dbias (K) or None) of conv2d; relu_output masks "
               "dy."));
    m.def(keep("conv2d_backward" + sx),
          [k](const py::array& dy, const py::array& x, const py::array& w, opt relu_y,
              const Pair& strides, const Quad& padding, const Pair& dilation, bool need_dx,
              bool need_dw, bool need_db) {
              return backward(k, dy, x, w, relu_y, strides, padding, dilation, need_dx,
                              need_dw, need_db);
          },
          py::arg("dy"), py::arg("x"), py::arg("kernel"),
          py::arg("relu_output"), py::arg("strides"), py::arg("padding"), py::arg("dilation"),
          py::arg("need_dx"), py::arg("need_dkernel"), py::arg("need_dbias"),
          keep(doc + "(dx, dkernel, dbias) of conv2d, each None unless asked for; relu_output "
               "masks dy (once, when both passes run)."));
    m.def(keep("conv2d_relu_maxpool_forward" + sx),
          [k](const py::array& x, const py::array& w, opt bias, const Pair& strides,
              const Quad& padding, const Pair& dilation, const Pair& pool) {
              return relu_maxpool_forward(k, x, w, bias, strides, padding, dilation, pool);
          },
          py::arg("x"),
          py::arg("kernel"), py::arg("bias"), py::arg("strides"), py::arg("padding"),
          py::arg("dilation"), py::arg("pool"),
          keep(doc + "(y, argmax u8) = max_pool(relu(conv2d(x, kernel) + bias)) over pool x "
               "pool windows (strides = pool, 'valid'), fused: the conv output is never "
               "stored."));
    m.def(keep("conv2d_relu_maxpool_backward" + sx),
          [k](const py::array& dyp, const py::array& argmax, const py::array& yp,
              const py::array& x, const py::array& w, const Pair& strides, const Quad& padding,
              const Pair& dilation, const Pair& pool, bool need_dx, bool need_dw,
              bool need_db) {
              return relu_maxpool_backward(k, dyp, argmax, yp, x, w, strides, padding,
                                           dilation, pool, need_dx, need_dw, need_db);
          },
          py::arg("dy"),
          py::arg("argmax"), py::arg("y"), py::arg("x"), py::arg("kernel"), py::arg("strides"),
          py::arg("padding"), py::arg("dilation"), py::arg("pool"), py::arg("need_dx"),
          py::arg("need_dkernel"), py::arg("need_dbias"),
          keep(doc + "(dx, dkernel, dbias) of conv2d_relu_maxpool_forward" + sx +
               ", each None unless asked for."));
}

void bind_conv(py::module_& m) {
    bind_conv_ops(m, {"", "", &conv2d_forward, &conv2d_backward_data, &conv2d_backward_weights,
                      &conv2d_backward, &conv2d_relu_maxpool_forward,
                      &conv2d_relu_maxpool_backward});
    m.def("conv2d_output_size", [](int64_t size, int64_t kernel, int64_t stride,
                                   int64_t dilation, int64_t pad_before, int64_t pad_after) {
        const char* op = "conv2d_output_size";
        check_geometry(op, kernel, 1, {stride, 1}, {pad_before, pad_after, 0, 0}, {dilation, 1});
        if (size < 0 || size > kMaxGeom)
            throw py::value_error("conv2d_output_size: size must be >= 0 and at most " +
                                  std::to_string(kMaxGeom) + ", received " +
                                  std::to_string(size));
        return conv2d_output_size(size, kernel, stride, dilation, pad_before, pad_after);
    }, py::arg("size"), py::arg("kernel"),
          py::arg("stride"), py::arg("dilation"), py::arg("pad_before"), py::arg("pad_after"));
}

}  // namespace grebe
