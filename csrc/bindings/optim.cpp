// optim.cpp — bindings of the fused optimizer updates. Each takes lists (one entry per parameter
// tensor) so one Python call updates a whole model: the Python cost of a step stays a few us.
// Every list entry is checked (float32, C-contiguous, writable where written, shapes equal to
// the weight's); errors name the update, the list and the index.
#include <optional>

#include "bindings/common.h"
#include "kernels/optim.h"

namespace grebe {
namespace {

struct Tensors {
    std::vector<float*> w;
    std::vector<const float*> g;
    std::vector<int64_t> n;
};

std::string at(const char* list, size_t i) {
    return std::string(list) + "[" + std::to_string(i) + "]";
}

// The common case in one cheap test: a C-contiguous float32 array (writable when asked).
// Anything else goes through check_f32, whose messages name the problem.
bool fast_ok(const py::array& a, bool writable) {
    return a.dtype().num() == py::detail::npy_api::NPY_FLOAT_ &&
           (a.flags() & py::array::c_style) && (!writable || a.writeable());
}

py::array item(const py::list& l, size_t i, const char* op, const char* list) {
    py::handle h = l[i];
    if (!py::isinstance<py::array>(h))
        throw py::type_error(std::string(op) + ": " + at(list, i) + " must be a numpy array, "
                             "received " + std::string(py::str(py::type::of(h).attr("__name__"))));
    return py::reinterpret_borrow<py::array>(h);
}

void check_same(const py::array& a, const py::array& w, const char* op, const std::string& name,
                size_t i) {
    bool same = a.ndim() == w.ndim();
    for (py::ssize_t d = 0; same && d < a.ndim(); d++) same = a.shape(d) == w.shape(d);
    if (!same)
        throw py::value_error(std::string(op) + ": " + name + " must have shape " +
                              shape_str(w) + ", the shape of weights[" + std::to_string(i) +
                              "], received " + shape_str(a));
}

// Checks weights and grads; returns their pointers and sizes.
Tensors collect(const char* op, const py::list& weights, const py::list& grads) {
    const size_t k = weights.size();
    if (grads.size() != k)
        throw py::value_error(std::string(op) + ": received " + std::to_string(k) +
                              " weights but " + std::to_string(grads.size()) + " gradients");
    Tensors t;
    t.w.reserve(k);
    t.g.reserve(k);
    t.n.reserve(k);
    for (size_t i = 0; i < k; i++) {
        py::array w = item(weights, i, op, "weights"), g = item(grads, i, op, "grads");
        if (!fast_ok(w, true)) {
            check_f32(w, op, at("weights", i).c_str());
            if (!w.writeable())
                throw py::value_error(std::string(op) + ": " + at("weights", i) + " is read-only");
        }
        if (!fast_ok(g, false)) check_f32(g, op, at("grads", i).c_str());
        check_same(g, w, op, at("grads", i), i);
        t.w.push_back(mut_f32(w));
        t.g.push_back(ptr_f32(g));
        t.n.push_back(w.size());
    }
    return t;
}

// An optimizer slot list (same shapes as the weights), or no list at all (None).
std::vector<float*> slots(const char* op, const char* name, const std::optional<py::list>& l,
                          const py::list& weights) {
    std::vector<float*> out(weights.size(), nullptr);
    if (!l) return out;
    if (l->size() != weights.size())
        throw py::value_error(std::string(op) + ": " + name + " has " + std::to_string(l->size()) +
                              " entries, expected one per weight (" +
                              std::to_string(weights.size()) + ")");
    for (size_t i = 0; i < weights.size(); i++) {
        py::array s = item(*l, i, op, name);
        if (!fast_ok(s, true)) {
            check_f32(s, op, at(name, i).c_str());
            if (!s.writeable())
                throw py::value_error(std::string(op) + ": " + at(name, i) + " is read-only");
        }
        check_same(s, py::reinterpret_borrow<py::array>(weights[i]), op, at(name, i), i);
        out[i] = mut_f32(s);
    }
    return out;
}

// Per-weight gradient preparation: wd and gscale lists may be empty (0 and 1 for all).
std::vector<GradPrep> preps(const char* op, size_t k, const std::vector<float>& wd,
                            const std::vector<float>& gscale, float clip) {
    if (!wd.empty() && wd.size() != k)
        throw py::value_error(std::string(op) + ": weight_decay has " + std::to_string(wd.size()) +
                              " entries, expected " + std::to_string(k));
    if (!gscale.empty() && gscale.size() != k)
        throw py::value_error(std::string(op) + ": gscale has " + std::to_string(gscale.size()) +
                              " entries, expected " + std::to_string(k));
    std::vector<GradPrep> out(k);
    for (size_t i = 0; i < k; i++) {
        out[i].wd = wd.empty() ? 0.0f : wd[i];
        out[i].gscale = gscale.empty() ? 1.0f : gscale[i];
        out[i].clip = clip;
    }
    return out;
}

using OptList = std::optional<py::list>;
using FVec = std::vector<float>;

void sgd_update_py(py::list weights, py::list grads, OptList momentums, float lr, float momentum,
                   bool nesterov, FVec wd, FVec gscale, float clip) {
    const char* op = "sgd_update";
    Tensors t = collect(op, weights, grads);
    std::vector<float*> ms = slots(op, "momentums", momentums, weights);
    std::vector<GradPrep> p = preps(op, t.w.size(), wd, gscale, clip);
    py::gil_scoped_release release;
    for (size_t i = 0; i < t.w.size(); i++) {
        if (ms[i])
            sgd_momentum_update(t.w[i], ms[i], t.g[i], t.n[i], lr, momentum, nesterov, p[i]);
        else
            sgd_update(t.w[i], t.g[i], t.n[i], lr, p[i]);
    }
}

void adam_update_py(py::list weights, py::list grads, py::list ms, py::list vs, OptList vhats,
                    float lr, float alpha, float beta1, float beta2, float eps, FVec wd,
                    FVec gscale, float clip) {
    const char* op = "adam_update";
    Tensors t = collect(op, weights, grads);
    std::vector<float*> m1 = slots(op, "momentums", ms, weights);
    std::vector<float*> v1 = slots(op, "velocities", vs, weights);
    std::vector<float*> h1 = slots(op, "velocity_hats", vhats, weights);
    std::vector<GradPrep> p = preps(op, t.w.size(), wd, gscale, clip);
    py::gil_scoped_release release;
    for (size_t i = 0; i < t.w.size(); i++)
        adam_update(t.w[i], m1[i], v1[i], h1[i], t.g[i], t.n[i], lr, alpha, beta1, beta2, eps,
                    p[i]);
}

void rmsprop_update_py(py::list weights, py::list grads, py::list vs, OptList moms, OptList avgs,
                       float lr, float rho, float momentum, float eps, FVec wd, FVec gscale,
                       float clip) {
    const char* op = "rmsprop_update";
    Tensors t = collect(op, weights, grads);
    std::vector<float*> v1 = slots(op, "velocities", vs, weights);
    std::vector<float*> m1 = slots(op, "momentums", moms, weights);
    std::vector<float*> a1 = slots(op, "average_gradients", avgs, weights);
    std::vector<GradPrep> p = preps(op, t.w.size(), wd, gscale, clip);
    py::gil_scoped_release release;
    for (size_t i = 0; i < t.w.size(); i++)
        rmsprop_update(t.w[i], v1[i], m1[i], a1[i], t.g[i], t.n[i], lr, rho, momentum, eps,
                       p[i]);
}

void adagrad_update_py(py::list weights, py::list grads, py::list accs, float lr, float eps,
                       FVec wd, FVec gscale, float clip) {
    const char* op = "adagrad_update";
    Tensors t = collect(op, weights, grads);
    std::vector<float*> a1 = slots(op, "accumulators", accs, weights);
    std::vector<GradPrep> p = preps(op, t.w.size(), wd, gscale, clip);
    py::gil_scoped_release release;
    for (size_t i = 0; i < t.w.size(); i++)
        adagrad_update(t.w[i], a1[i], t.g[i], t.n[i], lr, eps, p[i]);
}

std::vector<double> sum_squares_py(py::list arrays) {
    std::vector<double> out;
    out.reserve(arrays.size());
    for (size_t i = 0; i < arrays.size(); i++) {
        py::array a = item(arrays, i, "sum_squares", "arrays");
        check_f32(a, "sum_squares", at("arrays", i).c_str());
        const float* p = ptr_f32(a);
        const int64_t n = a.size();
        py::gil_scoped_release release;
        out.push_back(sum_squares(p, n));
    }
    return out;
}

}  // namespace

void bind_optim(py::module_& m) {
    m.def("sgd_update", &sgd_update_py,
          py::arg("weights"), py::arg("grads"), py::arg("momentums"), py::arg("lr"),
          py::arg("momentum") = 0.0f, py::arg("nesterov") = false, py::arg("wd") = FVec(),
          py::arg("gscale") = FVec(), py::arg("clip") = 0.0f,
          "Keras SGD over lists of weights/grads (momentums None: plain SGD), in place.");
    m.def("adam_update", &adam_update_py,
          py::arg("weights"), py::arg("grads"), py::arg("momentums"), py::arg("velocities"),
          py::arg("velocity_hats"), py::arg("lr"), py::arg("alpha"), py::arg("beta1"),
          py::arg("beta2"), py::arg("eps"), py::arg("wd") = FVec(), py::arg("gscale") = FVec(),
          py::arg("clip") = 0.0f,
          "Keras Adam/AdamW (velocity_hats: AMSGrad) over lists, in place; alpha is the "
          "bias-corrected step lr*sqrt(1-b2^t)/(1-b1^t).");
    m.def("rmsprop_update", &rmsprop_update_py,
          py::arg("weights"), py::arg("grads"), py::arg("velocities"), py::arg("momentums"),
          py::arg("average_gradients"), py::arg("lr"), py::arg("rho"), py::arg("momentum"),
          py::arg("eps"), py::arg("wd") = FVec(), py::arg("gscale") = FVec(),
          py::arg("clip") = 0.0f, "Keras RMSprop over lists, in place.");
    m.def("adagrad_update", &adagrad_update_py,
          py::arg("weights"), py::arg("grads"), py::arg("accumulators"), py::arg("lr"),
          py::arg("eps"), py::arg("wd") = FVec(), py::arg("gscale") = FVec(),
          py::arg("clip") = 0.0f, "Keras Adagrad over lists, in place.");
    m.def("sum_squares", &sum_squares_py,
          py::arg("arrays"),
          "sum(x*x) of each float32 array, in double; the same bits for any thread count.");
}

}  // namespace grebe
