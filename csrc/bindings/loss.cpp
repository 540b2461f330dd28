// loss.cpp — bindings of the fused cross-entropy kernels. Each returns the per-row losses and,
// when asked, the gradient with respect to the logits (unscaled: the caller applies the
// upstream gradient, the sample weights and the reduction).
#include "bindings/common.h"
#include "kernels/loss.h"

namespace grebe {

using i64array = py::array_t<int64_t, py::array::c_style>;

namespace {
// The sum of the per-row losses in row order, in double: the same bits for any thread count.
double row_sum(const f32array& loss) {
    const float* p = loss.data();
    double s = 0.0;
    for (py::ssize_t i = 0; i < loss.size(); i++) s += p[i];
    return s;
}

py::tuple softmax_cross_entropy_sparse_py(const py::array& logits, const py::array& labels,
                                          bool need_grad) {
    const char* op = "softmax_cross_entropy_sparse";
    check_f32(logits, op, "logits", 2);
    if (!py::isinstance<i64array>(labels) || !(labels.flags() & py::array::c_style))
        throw py::type_error(std::string(op) + ": labels must be a C-contiguous int64 array, "
                             "received dtype " + std::string(py::str(labels.dtype())));
    const int64_t N = logits.shape(0), C = logits.shape(1);
    check_shape(labels, {N}, op, "labels");
    if (C < 1 && N > 0)
        throw py::value_error(std::string(op) + ": logits must have at least one class, "
                              "received shape " + shape_str(logits));
    const int64_t* y = static_cast<const int64_t*>(labels.data());
    const int64_t bad = first_bad_label(y, N, C);
    if (bad >= 0)
        throw py::value_error(std::string(op) + ": labels must be in the range [0, " +
                              std::to_string(C) + ") for " + std::to_string(C) +
                              " classes, received " + std::to_string(y[bad]) +
                              " at index " + std::to_string(bad));
    f32array loss({N});
    py::object grad = py::none();
    float* dp = nullptr;
    if (need_grad) {
        f32array d({N, C});
        dp = d.mutable_data();
        grad = d;
    }
    {
        py::gil_scoped_release release;
        softmax_cross_entropy_sparse(loss.mutable_data(), dp, ptr_f32(logits), y, N, C);
    }
    return py::make_tuple(loss, grad, row_sum(loss));
}

py::tuple softmax_cross_entropy_dense_py(const py::array& logits, const py::array& targets,
                                         bool need_grad) {
    const char* op = "softmax_cross_entropy_dense";
    check_f32(logits, op, "logits", 2);
    check_f32(targets, op, "targets", 2);
    const int64_t N = logits.shape(0), C = logits.shape(1);
    check_shape(targets, {N, C}, op, "targets");
    f32array loss({N});
    py::object grad = py::none();
    float* dp = nullptr;
    if (need_grad) {
        f32array d({N, C});
        dp = d.mutable_data();
        grad = d;
    }
    {
        py::gil_scoped_release release;
        softmax_cross_entropy_dense(loss.mutable_data(), dp, ptr_f32(logits),
                                    ptr_f32(targets), N, C);
    }
    return py::make_tuple(loss, grad, row_sum(loss));
}

py::tuple sigmoid_cross_entropy_py(const py::array& logits, const py::array& targets,
                                   bool need_grad) {
    const char* op = "sigmoid_cross_entropy";
    check_f32(logits, op, "logits");
    check_f32(targets, op, "targets");
    bool same = logits.ndim() == targets.ndim();
    for (py::ssize_t d = 0; same && d < logits.ndim(); d++)
        same = logits.shape(d) == targets.shape(d);
    if (!same)
        throw py::value_error(std::string(op) + ": targets must have the shape of logits " +
                              shape_str(logits) + ", received " + shape_str(targets));
    std::vector<py::ssize_t> shape(logits.shape(), logits.shape() + logits.ndim());
    f32array loss(shape);
    py::object grad = py::none();
    float* dp = nullptr;
    if (need_grad) {
        f32array d(shape);
        dp = d.mutable_data();
        grad = d;
    }
    {
        py::gil_scoped_release release;
        sigmoid_cross_entropy(loss.mutable_data(), dp, ptr_f32(logits), ptr_f32(targets),
                              logits.size());
    }
    return py::make_tuple(loss, grad);
}

}  // namespace

void bind_loss(py::module_& m) {
    m.def("softmax_cross_entropy_sparse", &softmax_cross_entropy_sparse_py,
          py::arg("logits"), py::arg("labels"), py::arg("need_grad") = true,
          "logits (N,C) float32, labels (N,) int64 -> (loss (N,), dlogits (N,C) = softmax - onehot "
          "or None, sum of loss in double).");
    m.def("softmax_cross_entropy_dense", &softmax_cross_entropy_dense_py,
          py::arg("logits"), py::arg("targets"), py::arg("need_grad") = true,
          "logits (N,C), targets (N,C) float32 -> (loss (N,), dlogits = softmax*sum(t) - t or "
          "None, sum of loss in double).");
    m.def("sigmoid_cross_entropy", &sigmoid_cross_entropy_py,
          py::arg("logits"), py::arg("targets"), py::arg("need_grad") = true,
          "Elementwise sigmoid cross-entropy with logits -> (loss, dlogits = sigmoid(x) - z or "
          "None).");
}

}  // namespace grebe
