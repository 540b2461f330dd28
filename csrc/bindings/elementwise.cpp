// elementwise.cpp — bindings of the elementwise kernels (kernels/elementwise.h):
// activation_forward/backward, bias_act_forward/backward (Dense's epilogue), softmax_forward/
// backward over the last axis. Every shape, dtype and contiguity is checked here; kernels trust.
// Arguments are positional and optional ones are plain objects: the per-call cost matters for
// small arrays (an MLP step makes dozens of these calls).
#include "bindings/common.h"
#include "kernels/elementwise.h"

namespace grebe {
namespace {

Act to_act(int code, const char* op) {
    if (code < 0 || code >= static_cast<int>(Act::count))
        throw py::value_error(std::string(op) + ": unknown activation code " +
                              std::to_string(code));
    return static_cast<Act>(code);
}

bool same_shape(const py::array& a, const py::array& b) {
    if (a.ndim() != b.ndim()) return false;
    for (py::ssize_t i = 0; i < a.ndim(); i++)
        if (a.shape(i) != b.shape(i)) return false;
    return true;
}

// `a` must be float32, C-contiguous and shaped like `ref`.
void check_like(const py::array& a, const py::array& ref, const char* op, const char* arg,
                const char* ref_name) {
    check_f32(a, op, arg);
    if (!same_shape(a, ref))
        throw py::value_error(std::string(op) + ": " + arg + " must have the shape of " +
                              ref_name + " " + shape_str(ref) + ", received " + shape_str(a));
}

// `out` when given (checked, writable), else a new array shaped like `like`.
py::array out_like(const py::object& out, const py::array& like, const char* op) {
    if (out.is_none()) {
        std::vector<py::ssize_t> shape(like.shape(), like.shape() + like.ndim());
        return empty_f32(shape);
    }
    if (!py::isinstance<py::array>(out))
        throw py::type_error(std::string(op) + ": out must be a float32 array or None");
    py::array o = py::reinterpret_borrow<py::array>(out);
    check_like(o, like, op, "out", "the input");
    if (!o.writeable()) throw py::value_error(std::string(op) + ": out is read-only");
    return o;
}

// The array x or y that act's gradient needs (the other may be None); nullptr when unused.
const float* grad_source(const py::object& src, const py::array& dy, const char* op,
                         const char* arg, bool needed) {
    if (!needed) return nullptr;
    if (src.is_none())
        throw py::value_error(std::string(op) + ": this activation's gradient needs " + arg);
    if (!py::isinstance<py::array>(src))
        throw py::type_error(std::string(op) + ": " + arg + " must be a float32 array");
    py::array a = py::reinterpret_borrow<py::array>(src);
    check_like(a, dy, op, arg, "dy");
    return ptr_f32(a);
}

int64_t last_dim(const py::array& a, const char* op) {
    if (a.ndim() < 1)
        throw py::value_error(std::string(op) +
                              ": expected an input of rank >= 1, received a scalar");
    return a.shape(a.ndim() - 1);
}

py::array activation_forward_py(const py::array& x, int act, float alpha, const py::object& out) {
    const char* op = "activation_forward";
    const Act a = to_act(act, op);
    check_f32(x, op, "x");
    py::array y = out_like(out, x, op);
    const float* px = ptr_f32(x);
    float* py_ = mut_f32(y);
    const int64_t n = x.size();
    {
        py::gil_scoped_release release;
        act_forward(py_, px, n, a, alpha);
    }
    return y;
}

py::array activation_backward_py(const py::array& dy, const py::object& x, const py::object& y,
                                 int act, float alpha, const py::object& out) {
    const char* op = "activation_backward";
    const Act a = to_act(act, op);
    check_f32(dy, op, "dy");
    const bool uses_y = act_grad_uses_output(a);
    const float* px = grad_source(x, dy, op, "x", !uses_y);
    const float* pyv = grad_source(y, dy, op, "y", uses_y && a != Act::linear);
    py::array dx = out_like(out, dy, op);
    const float* pdy = ptr_f32(dy);
    float* pdx = mut_f32(dx);
    const int64_t n = dy.size();
    {
        py::gil_scoped_release release;
        act_backward(pdx, pdy, px, pyv, n, a, alpha);
    }
    return dx;
}

py::array bias_act_forward_py(const py::array& x, const py::object& bias, int act, float alpha,
                              const py::object& out) {
    const char* op = "bias_act_forward";
    const Act a = to_act(act, op);
    check_f32(x, op, "x");
    const int64_t N = last_dim(x, op);
    const int64_t M = N ? x.size() / N : 0;
    const float* pb = nullptr;
    if (!bias.is_none()) {
        if (!py::isinstance<py::array>(bias))
            throw py::type_error("bias_act_forward: bias must be a float32 array");
        py::array b = py::reinterpret_borrow<py::array>(bias);
        check_f32(b, op, "bias", 1);
        check_shape(b, {N}, op, "bias");
        pb = ptr_f32(b);
    }
    py::array y = out_like(out, x, op);
    const float* px = ptr_f32(x);
    float* py_ = mut_f32(y);
    {
        py::gil_scoped_release release;
        bias_act_forward(py_, px, pb, M, N, a, alpha);
    }
    return y;
}

py::tuple bias_act_backward_py(const py::array& dy, const py::object& x, const py::object& y,
                               int act, float alpha, bool need_dbias) {
    const char* op = "bias_act_backward";
    const Act a = to_act(act, op);
    check_f32(dy, op, "dy");
    const int64_t N = last_dim(dy, op);
    const int64_t M = N ? dy.size() / N : 0;
    const bool uses_y = act_grad_uses_output(a);
    const float* px = grad_source(x, dy, op, "x", !uses_y);
    const float* pyv = grad_source(y, dy, op, "y", uses_y && a != Act::linear);
    // A linear activation passes dy through: dz is dy itself, not a copy.
    py::array dz = a == Act::linear ? dy : out_like(py::none(), dy, op);
    py::object dbias = py::none();
    float* pdb = nullptr;
    if (need_dbias) {
        py::array b = empty_f32({static_cast<py::ssize_t>(N)});
        pdb = mut_f32(b);
        dbias = b;
    }
    const float* pdy = ptr_f32(dy);
    float* pdz = static_cast<float*>(const_cast<void*>(dz.data()));
    {
        py::gil_scoped_release release;
        bias_act_backward(pdz, pdb, pdy, px, pyv, M, N, a, alpha);
    }
    return py::make_tuple(dz, dbias);
}

py::array softmax_forward_py(const py::array& x, bool log, const py::object& out) {
    const char* op = log ? "log_softmax_forward" : "softmax_forward";
    check_f32(x, op, "x");
    const int64_t N = last_dim(x, op);
    const int64_t M = N ? x.size() / N : 0;
    py::array y = out_like(out, x, op);
    const float* px = ptr_f32(x);
    float* py_ = mut_f32(y);
    {
        py::gil_scoped_release release;
        softmax_forward(py_, px, M, N, log);
    }
    return y;
}

py::array softmax_backward_py(const py::array& dy, const py::array& y, bool log,
                              const py::object& out) {
    const char* op = log ? "log_softmax_backward" : "softmax_backward";
    check_f32(dy, op, "dy");
    check_like(y, dy, op, "y", "dy");
    const int64_t N = last_dim(dy, op);
    const int64_t M = N ? dy.size() / N : 0;
    py::array dx = out_like(out, dy, op);
    const float* pdy = ptr_f32(dy);
    const float* pyv = ptr_f32(y);
    float* pdx = mut_f32(dx);
    {
        py::gil_scoped_release release;
        softmax_backward(pdx, pdy, pyv, M, N, log);
    }
    return dx;
}

py::array activation_forward_reference_py(const py::array& x, int act, float alpha) {
    const char* op = "activation_forward_reference";
    const Act a = to_act(act, op);
    check_f32(x, op, "x");
    py::array y = out_like(py::none(), x, op);
    act_forward_reference(mut_f32(y), ptr_f32(x), x.size(), a, alpha);
    return y;
}

}  // namespace

// The activation codes, exported so Python names them instead of copying integers.
void bind_act_enum(py::module_& m) {
    py::enum_<Act>(m, "Act", "Activation codes of the elementwise kernels (kernels/elementwise.h).")
        .value("linear", Act::linear)
        .value("relu", Act::relu)
        .value("relu6", Act::relu6)
        .value("leaky_relu", Act::leaky_relu)
        .value("elu", Act::elu)
        .value("selu", Act::selu)
        .value("sigmoid", Act::sigmoid)
        .value("hard_sigmoid", Act::hard_sigmoid)
        .value("tanh", Act::tanh)
        .value("gelu", Act::gelu)
        .value("gelu_tanh", Act::gelu_tanh)
        .value("silu", Act::silu)
        .value("softplus", Act::softplus);
    m.def("act_grad_uses_output",
          [](int act) { return act_grad_uses_output(to_act(act, "act_grad_uses_output")); },
          py::arg("act"),
          "Whether activation_backward needs the output y (else the input x) for this Act.");
}

void bind_elementwise(py::module_& m) {
    bind_act_enum(m);
    m.def("activation_forward", &activation_forward_py,
          py::arg("x"), py::arg("act"), py::arg("alpha") = 0.0f, py::arg("out") = py::none(),
          "y = act(x) elementwise (act: an Act). out may be x.");
    m.def("activation_backward", &activation_backward_py,
          py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("act"), py::arg("alpha") = 0.0f,
          py::arg("out") = py::none(),
          "dx = dy * act'(x). relu, sigmoid, tanh and linear need the output y, the others the "
          "input x (pass None for the one not needed). out may be dy.");
    m.def("bias_act_forward", &bias_act_forward_py,
          py::arg("x"), py::arg("bias"), py::arg("act"), py::arg("alpha") = 0.0f,
          py::arg("out") = py::none(),
          "y (..., N) = act(x + bias (N,)); bias may be None. out may be x (in place).");
    m.def("bias_act_backward", &bias_act_backward_py,
          py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("act"), py::arg("alpha") = 0.0f,
          py::arg("need_dbias") = true,
          "(dz, dbias): dz (..., N) = dy * act'(.) (dy itself when act is linear) and dbias (N,) "
          "its sums over every axis but the last (None unless need_dbias).");
    m.def("softmax_forward", &softmax_forward_py,
          py::arg("x"), py::arg("log") = false, py::arg("out") = py::none(),
          "softmax (or log_softmax when log) over the last axis, max-shifted so huge logits "
          "stay finite. out may be x.");
    m.def("softmax_backward", &softmax_backward_py,
          py::arg("dy"), py::arg("y"), py::arg("log") = false, py::arg("out") = py::none(),
          "The gradient of softmax_forward from its output y. out may be dy.");
    m.def("activation_forward_reference", &activation_forward_reference_py,
          py::arg("x"), py::arg("act"), py::arg("alpha") = 0.0f,
          "The portable scalar loop (test oracle for the vector kernels).");
}

}  // namespace grebe
