// batchnorm.cpp — bindings of the batch-normalization kernels (kernels/batchnorm.h). Every
// shape and dtype is checked here; the kernels trust them. The GIL is released around every
// kernel call.
#include <cmath>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "kernels/batchnorm.h"

namespace grebe {

namespace {

void check_rows(const py::array& x, const char* op, const char* arg) {
    check_f32(x, op, arg, 2);
}

void check_channels(const py::array& v, int64_t C, const char* op, const char* arg) {
    check_f32(v, op, arg, 1);
    check_shape(v, {C}, op, arg);
}

py::tuple batch_norm_stats_py(const py::array& x) {
    const char* op = "batch_norm";
    check_rows(x, op, "x");
    const int64_t M = x.shape(0), C = x.shape(1);
    if (M < 1)
        throw py::value_error(std::string(op) + ": batch statistics need at least one row, "
                              "received shape " + shape_str(x));
    f32array mean({C}), var({C});
    float* mp = mean.mutable_data();
    float* vp = var.mutable_data();
    const float* xp = ptr_f32(x);
    {
        py::gil_scoped_release nogil;
        batch_norm_stats(mp, vp, xp, M, C);
    }
    return py::make_tuple(mean, var);
}

f32array batch_norm_apply_py(const py::array& x, const py::array& scale, const py::array& shift) {
    const char* op = "batch_norm";
    check_rows(x, op, "x");
    const int64_t M = x.shape(0), C = x.shape(1);
    check_channels(scale, C, op, "scale");
    check_channels(shift, C, op, "shift");
    f32array y({M, C});
    float* yp = y.mutable_data();
    const float *xp = ptr_f32(x), *sp = ptr_f32(scale), *tp = ptr_f32(shift);
    {
        py::gil_scoped_release nogil;
        batch_norm_apply(yp, xp, sp, tp, M, C);
    }
    return y;
}

// Checks what every batch-norm backward takes: x and dy (M,C), mean and inv_std (C,). Returns M.
int64_t check_bn_backward(const py::array& dy, const py::array& x, const py::array& mean,
                          const py::array& inv_std, const char* op) {
    check_rows(x, op, "x");
    const int64_t M = x.shape(0), C = x.shape(1);
    check_f32(dy, op, "dy", 2);
    check_shape(dy, {M, C}, op, "dy");
    check_channels(mean, C, op, "mean");
    check_channels(inv_std, C, op, "inv_std");
    return M;
}

py::tuple batch_norm_backward_reduce_py(const py::array& dy, const py::array& x,
                                        const py::array& mean, const py::array& inv_std) {
    const char* op = "batch_norm_backward";
    const int64_t M = check_bn_backward(dy, x, mean, inv_std, op), C = x.shape(1);
    f32array dbeta({C}), dgamma({C});
    float *bp = dbeta.mutable_data(), *gp = dgamma.mutable_data();
    const float *dyp = ptr_f32(dy), *xp = ptr_f32(x), *mp = ptr_f32(mean),
                *ip = ptr_f32(inv_std);
    {
        py::gil_scoped_release nogil;
        if (M > 0) {
            batch_norm_backward_reduce(bp, gp, dyp, xp, mp, ip, M, C);
        } else {
            for (int64_t c = 0; c < C; c++) bp[c] = gp[c] = 0.0f;
        }
    }
    return py::make_tuple(dbeta, dgamma);
}

f32array batch_norm_backward_data_py(const py::array& dy, const py::array& x,
                                     const py::array& mean, const py::array& inv_std,
                                     const py::object& gamma, const py::array& dbeta,
                                     const py::array& dgamma) {
    const char* op = "batch_norm_backward";
    const int64_t M = check_bn_backward(dy, x, mean, inv_std, op), C = x.shape(1);
    check_channels(dbeta, C, op, "dbeta");
    check_channels(dgamma, C, op, "dgamma");
    const float* gp = nullptr;
    py::array g;
    if (!gamma.is_none()) {
        g = gamma.cast<py::array>();
        check_channels(g, C, op, "gamma");
        gp = ptr_f32(g);
    }
    f32array dx({M, C});
    float* dxp = dx.mutable_data();
    const float *dyp = ptr_f32(dy), *xp = ptr_f32(x), *mp = ptr_f32(mean),
                *ip = ptr_f32(inv_std), *bp = ptr_f32(dbeta), *kp = ptr_f32(dgamma);
    {
        py::gil_scoped_release nogil;
        if (M > 0) batch_norm_backward_data(dxp, dyp, xp, mp, ip, gp, bp, kp, M, C);
    }
    return dx;
}

// The training-mode forward in one call: stats, inv_std = 1 / sqrt(var + eps) and the
// normalization. x (M,C), gamma/beta (C) or None -> (y, mean, var, inv_std). With moving_mean
// and moving_var (C) given, also updates them in place, Keras's formula in float32:
// moving = moving * momentum + batch * (1 - momentum).
py::tuple batch_norm_train_forward_py(const py::array& x, const py::object& gamma,
                                      const py::object& beta, double eps,
                                      const py::object& moving_mean,
                                      const py::object& moving_var, double momentum,
                                      bool relu) {
    const char* op = "batch_norm";
    check_rows(x, op, "x");
    const int64_t M = x.shape(0), C = x.shape(1);
    if (M < 1)
        throw py::value_error(std::string(op) + ": batch statistics need at least one row, "
                              "received shape " + shape_str(x));
    py::array g, b;
    const float *gp = nullptr, *bp = nullptr;
    if (!gamma.is_none()) {
        g = gamma.cast<py::array>();
        check_channels(g, C, op, "gamma");
        gp = ptr_f32(g);
    }
    if (!beta.is_none()) {
        b = beta.cast<py::array>();
        check_channels(b, C, op, "beta");
        bp = ptr_f32(b);
    }
    py::array mm, mv;
    float *mmp = nullptr, *mvp = nullptr;
    if (!moving_mean.is_none() || !moving_var.is_none()) {
        mm = moving_mean.cast<py::array>();
        mv = moving_var.cast<py::array>();
        check_channels(mm, C, op, "moving_mean");
        check_channels(mv, C, op, "moving_var");
        if (!mm.writeable() || !mv.writeable())
            throw py::value_error(std::string(op) + ": the moving statistics must be writeable");
        mmp = mut_f32(mm);
        mvp = mut_f32(mv);
    }
    f32array y({M, C}), mean({C}), var({C}), inv({C});
    float *yp = y.mutable_data(), *mp = mean.mutable_data(), *vp = var.mutable_data(),
          *ip = inv.mutable_data();
    const float* xp = ptr_f32(x);
    const float mo = static_cast<float>(momentum), one_mo = static_cast<float>(1.0 - momentum);
    {
        py::gil_scoped_release nogil;
        batch_norm_stats(mp, vp, xp, M, C);
        if (mmp)
            for (int64_t c = 0; c < C; c++) {
                mmp[c] = mmp[c] * mo + mp[c] * one_mo;
                mvp[c] = mvp[c] * mo + vp[c] * one_mo;
            }
        std::vector<float> scale(C), shift(C);
        for (int64_t c = 0; c < C; c++) {
            ip[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(vp[c]) + eps));
            scale[c] = gp ? gp[c] * ip[c] : ip[c];
            shift[c] = (bp ? bp[c] : 0.0f) - mp[c] * scale[c];
        }
        if (relu)
            batch_norm_apply_relu(yp, xp, scale.data(), shift.data(), M, C);
        else
            batch_norm_apply(yp, xp, scale.data(), shift.data(), M, C);
    }
    return py::make_tuple(y, mean, var, inv);
}

// The inference-mode forward in one call: x (M,C), mean, var (C), gamma/beta (C) or None ->
// (y, inv_std, a) with inv_std = 1 / sqrt(var + eps), a = gamma * inv_std, y = x * a + (beta -
// mean * a).
py::tuple batch_norm_infer_forward_py(const py::array& x, const py::array& mean,
                                      const py::array& var, const py::object& gamma,
                                      const py::object& beta, double eps) {
    const char* op = "batch_normalization";
    check_rows(x, op, "x");
    const int64_t M = x.shape(0), C = x.shape(1);
    check_channels(mean, C, op, "mean");
    check_channels(var, C, op, "variance");
    py::array g, b;
    const float *gp = nullptr, *bp = nullptr;
    if (!gamma.is_none()) {
        g = gamma.cast<py::array>();
        check_channels(g, C, op, "scale");
        gp = ptr_f32(g);
    }
    if (!beta.is_none()) {
        b = beta.cast<py::array>();
        check_channels(b, C, op, "offset");
        bp = ptr_f32(b);
    }
    f32array y({M, C}), inv({C}), a({C});
    float *yp = y.mutable_data(), *ip = inv.mutable_data(), *ap = a.mutable_data();
    const float *xp = ptr_f32(x), *mp = ptr_f32(mean), *vp = ptr_f32(var);
    {
        py::gil_scoped_release nogil;
        std::vector<float> shift(C);
        for (int64_t c = 0; c < C; c++) {
            ip[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(vp[c]) + eps));
            ap[c] = gp ? gp[c] * ip[c] : ip[c];
            shift[c] = (bp ? bp[c] : 0.0f) - mp[c] * ap[c];
        }
        if (M > 0) batch_norm_apply(yp, xp, ap, shift.data(), M, C);
    }
    return py::make_tuple(y, inv, a);
}

// The training-mode backward in one call -> (dx or None, dgamma, dbeta).
py::tuple batch_norm_train_backward_py(const py::array& dy, const py::array& x,
                                       const py::array& mean, const py::array& inv_std,
                                       const py::object& gamma, bool need_dx,
                                       const py::object& relu_y) {
    const char* op = "batch_norm_backward";
    const int64_t M = check_bn_backward(dy, x, mean, inv_std, op), C = x.shape(1);
    py::array ry;
    const float* ryp = nullptr;  // the fused ReLU's output: g = dy where relu_y > 0
    if (!relu_y.is_none()) {
        ry = relu_y.cast<py::array>();
        check_f32(ry, op, "relu_y", 2);
        check_shape(ry, {M, C}, op, "relu_y");
        ryp = ptr_f32(ry);
    }
    const float* gp = nullptr;
    py::array g;
    if (!gamma.is_none()) {
        g = gamma.cast<py::array>();
        check_channels(g, C, op, "gamma");
        gp = ptr_f32(g);
    }
    f32array dgamma({C}), dbeta({C});
    float *kp = dgamma.mutable_data(), *bp = dbeta.mutable_data();
    const float *dyp = ptr_f32(dy), *xp = ptr_f32(x), *mp = ptr_f32(mean),
                *ip = ptr_f32(inv_std);
    py::object dx = py::none();
    float* dxp = nullptr;
    if (need_dx) {
        f32array d({M, C});
        dxp = d.mutable_data();
        dx = d;
    }
    {
        py::gil_scoped_release nogil;
        batch_norm_backward(dxp, bp, kp, dyp, ryp, xp, mp, ip, gp, M, C);
    }
    return py::make_tuple(dx, dgamma, dbeta);
}

}  // namespace

void bind_batchnorm(py::module_& m) {
    using py::arg;
    m.def("batch_norm_train_forward", &batch_norm_train_forward_py, arg("x"), arg("gamma"),
          arg("beta"), arg("epsilon"), arg("moving_mean") = py::none(),
          arg("moving_var") = py::none(), arg("momentum") = 0.0, arg("relu") = false,
          "Training-mode batch normalization of x (M,C) with its batch statistics -> (y, mean, "
          "var (biased), inv_std); updates moving_mean/moving_var in place when given; relu: "
          "y = max(normalized, 0) in the same pass.");
    m.def("batch_norm_infer_forward", &batch_norm_infer_forward_py, arg("x"), arg("mean"),
          arg("variance"), arg("scale"), arg("offset"), arg("epsilon"),
          "Batch normalization of x (M,C) with given statistics -> (y, inv_std, scale * "
          "inv_std).");
    m.def("batch_norm_train_backward", &batch_norm_train_backward_py, arg("dy"), arg("x"),
          arg("mean"), arg("inv_std"), arg("gamma"), arg("need_dx"), arg("relu_y") = py::none(),
          "Gradients of batch_norm_train_forward -> (dx (M,C) or None, dgamma (C), dbeta (C)); "
          "relu_y: the output of a relu=True forward (the gradient goes through the ReLU).");
    m.def("batch_norm_stats", &batch_norm_stats_py, arg("x"),
          "x (M,C) -> (mean (C), var (C)), the biased batch variance.");
    m.def("batch_norm_apply", &batch_norm_apply_py, arg("x"), arg("scale"), arg("shift"),
          "x (M,C), scale (C), shift (C) -> x * scale + shift.");
    m.def("batch_norm_backward_reduce", &batch_norm_backward_reduce_py, arg("dy"), arg("x"),
          arg("mean"), arg("inv_std"),
          "dy, x (M,C), mean, inv_std (C) -> (dbeta = sum dy, dgamma = sum dy * xhat).");
    m.def("batch_norm_backward_data", &batch_norm_backward_data_py, arg("dy"), arg("x"),
          arg("mean"), arg("inv_std"), arg("gamma"), arg("dbeta"), arg("dgamma"),
          "The input gradient of training-mode batch normalization, dx (M,C).");
}

}  // namespace grebe
