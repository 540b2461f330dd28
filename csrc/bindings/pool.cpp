// pool.cpp — bindings of the pooling kernels (kernels/pool.h). Every shape, dtype and window
// is checked here; the kernels trust them. The GIL is released around every kernel call.
#include <array>
#include <string>

#include "bindings/common.h"
#include "kernels/pool.h"

namespace grebe {

namespace {

using u8array = py::array_t<uint8_t, py::array::c_style>;
using Pair = std::array<int64_t, 2>;

std::string pair_str(const Pair& p) {
    return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}

bool parse_padding(const std::string& padding, const char* op) {
    if (padding == "valid") return false;
    if (padding == "same") return true;
    throw py::value_error(std::string(op) + ": padding must be 'valid' or 'same', received '" +
                          padding + "'");
}

// The checked pooling shape of input (N,H,W,C) for window `pool`, `strides`, `padding`.
Pool2dShape pool_shape(const char* op, const std::array<int64_t, 4>& x, const Pair& pool,
                       const Pair& strides, const std::string& padding) {
    const bool same = parse_padding(padding, op);
    for (int i = 0; i < 4; i++)
        if (x[i] < 0)
            throw py::value_error(std::string(op) + ": x_shape must be non-negative, received (" +
                                  std::to_string(x[0]) + ", " + std::to_string(x[1]) + ", " +
                                  std::to_string(x[2]) + ", " + std::to_string(x[3]) + ")");
    for (int i = 0; i < 2; i++) {
        if (pool[i] < 1 || pool[i] > (int64_t(1) << 24))
            throw py::value_error(std::string(op) + ": pool_size must be positive, received " +
                                  pair_str(pool));
        if (strides[i] < 1 || strides[i] > (int64_t(1) << 24))
            throw py::value_error(std::string(op) + ": strides must be positive, received " +
                                  pair_str(strides));
    }
    Pool2dShape s = pool2d_shape(x[0], x[1], x[2], x[3], pool[0], pool[1], strides[0],
                                 strides[1], same);
    if (!same && (x[1] < pool[0] || x[2] < pool[1]))
        throw py::value_error(std::string(op) + ": pool_size " + pair_str(pool) +
                              " is larger than the input " + pair_str(Pair{x[1], x[2]}) +
                              " with padding='valid'");
    return s;
}

std::array<int64_t, 4> dims4(const py::array& a) {
    return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
}

// A kernel's window index array: u8 when every index fits a byte, else int32.
bool argmax_is_u8(const Pool2dShape& s) { return s.KH * s.KW <= 256; }

py::tuple max_pool2d_forward_py(const py::array& x, const Pair& pool, const Pair& strides,
                                const std::string& padding) {
    const char* op = "max_pool2d";
    check_f32(x, op, "x", 4);
    const Pool2dShape s = pool_shape(op, dims4(x), pool, strides, padding);
    f32array y({s.N, s.P, s.Q, s.C});
    const float* xp = ptr_f32(x);
    float* yp = y.mutable_data();
    if (argmax_is_u8(s)) {
        u8array am({s.N, s.P, s.Q, s.C});
        uint8_t* ap = am.mutable_data();
        {
            py::gil_scoped_release nogil;
            max_pool2d_forward(yp, ap, xp, s);
        }
        return py::make_tuple(y, am);
    }
    i32array am({s.N, s.P, s.Q, s.C});
    int32_t* ap = am.mutable_data();
    {
        py::gil_scoped_release nogil;
        max_pool2d_forward(yp, ap, xp, s);
    }
    return py::make_tuple(y, am);
}

f32array max_pool2d_backward_py(const py::array& dy, const py::array& argmax,
                                const std::array<int64_t, 4>& x_shape, const Pair& pool,
                                const Pair& strides, const std::string& padding) {
    const char* op = "max_pool2d_backward";
    const Pool2dShape s = pool_shape(op, x_shape, pool, strides, padding);
    check_f32(dy, op, "dy", 4);
    check_shape(dy, {s.N, s.P, s.Q, s.C}, op, "dy");
    check_shape(argmax, {s.N, s.P, s.Q, s.C}, op, "argmax");
    const bool u8 = argmax_is_u8(s);
    if (!(argmax.flags() & py::array::c_style) ||
        (u8 ? !py::isinstance<u8array>(argmax) : !py::isinstance<i32array>(argmax)) ||
        argmax.dtype().itemsize() != (u8 ? 1 : 4))
        throw py::type_error(std::string(op) + ": argmax must be a C-contiguous " +
                             (u8 ? "uint8" : "int32") + " array (from max_pool2d_forward), "
                             "received dtype " + std::string(py::str(argmax.dtype())));
    f32array dx({s.N, s.H, s.W, s.C});
    float* dxp = dx.mutable_data();
    const float* dyp = ptr_f32(dy);
    const void* ap = argmax.data();
    {
        py::gil_scoped_release nogil;
        if (u8)
            max_pool2d_backward(dxp, dyp, static_cast<const uint8_t*>(ap), s);
        else
            max_pool2d_backward(dxp, dyp, static_cast<const int32_t*>(ap), s);
    }
    return dx;
}

f32array avg_pool2d_forward_py(const py::array& x, const Pair& pool, const Pair& strides,
                               const std::string& padding) {
    const char* op = "avg_pool2d";
    check_f32(x, op, "x", 4);
    const Pool2dShape s = pool_shape(op, dims4(x), pool, strides, padding);
    f32array y({s.N, s.P, s.Q, s.C});
    float* yp = y.mutable_data();
    const float* xp = ptr_f32(x);
    {
        py::gil_scoped_release nogil;
        avg_pool2d_forward(yp, xp, s);
    }
    return y;
}

f32array avg_pool2d_backward_py(const py::array& dy, const std::array<int64_t, 4>& x_shape,
                                const Pair& pool, const Pair& strides,
                                const std::string& padding) {
    const char* op = "avg_pool2d_backward";
    const Pool2dShape s = pool_shape(op, x_shape, pool, strides, padding);
    check_f32(dy, op, "dy", 4);
    check_shape(dy, {s.N, s.P, s.Q, s.C}, op, "dy");
    f32array dx({s.N, s.H, s.W, s.C});
    float* dxp = dx.mutable_data();
    const float* dyp = ptr_f32(dy);
    {
        py::gil_scoped_release nogil;
        avg_pool2d_backward(dxp, dyp, s);
    }
    return dx;
}

void check_global_x(const py::array& x, const char* op) {
    check_f32(x, op, "x", 3);
    if (x.shape(1) < 1)
        throw py::value_error(std::string(op) + ": x must have at least one position to pool, "
                              "received shape " + shape_str(x));
}

f32array global_avg_pool_forward_py(const py::array& x) {
    const char* op = "global_avg_pool";
    check_global_x(x, op);
    const int64_t N = x.shape(0), S = x.shape(1), C = x.shape(2);
    f32array y({N, C});
    float* yp = y.mutable_data();
    const float* xp = ptr_f32(x);
    {
        py::gil_scoped_release nogil;
        global_avg_pool_forward(yp, xp, N, S, C);
    }
    return y;
}

f32array global_avg_pool_backward_py(const py::array& dy, int64_t S) {
    const char* op = "global_avg_pool_backward";
    check_f32(dy, op, "dy", 2);
    if (S < 1) throw py::value_error(std::string(op) + ": S must be positive");
    const int64_t N = dy.shape(0), C = dy.shape(1);
    f32array dx({N, S, C});
    float* dxp = dx.mutable_data();
    const float* dyp = ptr_f32(dy);
    {
        py::gil_scoped_release nogil;
        global_avg_pool_backward(dxp, dyp, N, S, C);
    }
    return dx;
}

py::tuple global_max_pool_forward_py(const py::array& x) {
    const char* op = "global_max_pool";
    check_global_x(x, op);
    const int64_t N = x.shape(0), S = x.shape(1), C = x.shape(2);
    if (S > INT32_MAX) throw py::value_error(std::string(op) + ": too many positions");
    f32array y({N, C});
    i32array am({N, C});
    float* yp = y.mutable_data();
    int32_t* ap = am.mutable_data();
    const float* xp = ptr_f32(x);
    {
        py::gil_scoped_release nogil;
        global_max_pool_forward(yp, ap, xp, N, S, C);
    }
    return py::make_tuple(y, am);
}

f32array global_max_pool_backward_py(const py::array& dy, const i32array& argmax, int64_t S) {
    const char* op = "global_max_pool_backward";
    check_f32(dy, op, "dy", 2);
    if (S < 1) throw py::value_error(std::string(op) + ": S must be positive");
    const int64_t N = dy.shape(0), C = dy.shape(1);
    check_shape(argmax, {N, C}, op, "argmax");
    const int32_t* ap = argmax.data();
    for (int64_t i = 0; i < N * C; i++)  // an index out of range would write out of bounds
        if (ap[i] < 0 || ap[i] >= S)
            throw py::value_error(std::string(op) + ": argmax holds " + std::to_string(ap[i]) +
                                  ", outside [0, " + std::to_string(S) + ")");
    f32array dx({N, S, C});
    float* dxp = dx.mutable_data();
    const float* dyp = ptr_f32(dy);
    {
        py::gil_scoped_release nogil;
        global_max_pool_backward(dxp, dyp, ap, N, S, C);
    }
    return dx;
}

}  // namespace

void bind_pool(py::module_& m) {
    using py::arg;
    m.def("max_pool2d_forward", &max_pool2d_forward_py, arg("x"), arg("pool_size"),
          arg("strides"), arg("padding"),
          "x (N,H,W,C) -> (y (N,P,Q,C), argmax (N,P,Q,C) window indices, uint8 when the window "
          "has <= 256 positions, else int32).");
    m.def("max_pool2d_backward", &max_pool2d_backward_py, arg("dy"), arg("argmax"),
          arg("x_shape"), arg("pool_size"), arg("strides"), arg("padding"),
          "dy (N,P,Q,C), argmax -> dx (N,H,W,C).");
    m.def("avg_pool2d_forward", &avg_pool2d_forward_py, arg("x"), arg("pool_size"),
          arg("strides"), arg("padding"),
          "x (N,H,W,C) -> y (N,P,Q,C), the mean over each window's input positions.");
    m.def("avg_pool2d_backward", &avg_pool2d_backward_py, arg("dy"), arg("x_shape"),
          arg("pool_size"), arg("strides"), arg("padding"), "dy (N,P,Q,C) -> dx (N,H,W,C).");
    m.def("global_avg_pool_forward", &global_avg_pool_forward_py, arg("x"),
          "x (N,S,C) -> y (N,C), the mean over S.");
    m.def("global_avg_pool_backward", &global_avg_pool_backward_py, arg("dy"), arg("S"),
          "dy (N,C) -> dx (N,S,C) = dy / S.");
    m.def("global_max_pool_forward", &global_max_pool_forward_py, arg("x"),
          "x (N,S,C) -> (y (N,C), argmax (N,C) int32).");
    m.def("global_max_pool_backward", &global_max_pool_backward_py, arg("dy"), arg("argmax"),
          arg("S"), "dy (N,C), argmax (N,C) -> dx (N,S,C).");
}

}  // namespace grebe
