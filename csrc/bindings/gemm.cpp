// gemm.cpp — bindings of the gemm kernels: _C.sgemm (BLAS-style, optional output, fused bias and
// ReLU), _C.matmul (a new array; 2-D or batched 3-D with a batch of 1 broadcast) and
// _C.sgemm_reference (the test oracle). Every shape, dtype and contiguity is checked here.
#include <optional>

#include "bindings/common.h"
#include "bindings/variants.h"
#include "kernels/gemm/gemm.h"

namespace grebe {
namespace {

// op(X) of a 2-D or 3-D operand: (rows, cols) of the stored matrix and its batch.
struct Operand {
    int64_t batch, rows, cols;
};

Operand operand(const py::array& x, const char* op, const char* arg) {
    check_f32(x, op, arg);
    if (x.ndim() == 2) return {1, x.shape(0), x.shape(1)};
    if (x.ndim() == 3) return {x.shape(0), x.shape(1), x.shape(2)};
    throw py::value_error(std::string(op) + ": " + arg + " must be 2-D (M, K) or 3-D (batch, M, K)"
                          ", received shape " + shape_str(x));
}

bool overlaps(const py::array& x, const py::array& y) {
    const char* x0 = static_cast<const char*>(x.data());
    const char* y0 = static_cast<const char*>(y.data());
    return x0 < y0 + y.nbytes() && y0 < x0 + x.nbytes();
}

// out = act(alpha * op(a) @ op(b) + beta * out + bias); creates out when it is None.
py::array gemm(const GemmKernels& k, const char* op_base, const py::array& a, const py::array& b,
               bool ta, bool tb,
               float alpha, float beta, std::optional<py::array> c,
               std::optional<py::array> bias, bool relu) {
    const std::string op_name = std::string(op_base) + k.suffix;
    const char* op = op_name.c_str();
    const Operand A = operand(a, op, "a"), B = operand(b, op, "b");
    const int64_t M = ta ? A.cols : A.rows, K = ta ? A.rows : A.cols;
    const int64_t Kb = tb ? B.cols : B.rows, N = tb ? B.rows : B.cols;
    auto both = [&] {
        return std::string(": a ") + shape_str(a) + (ta ? " (transposed)" : "") + " and b " +
               shape_str(b) + (tb ? " (transposed)" : "");
    };
    if (K != Kb) throw py::value_error(std::string(op) + ": inner dimensions differ" + both());
    if (A.batch != B.batch && A.batch != 1 && B.batch != 1)
        throw py::value_error(std::string(op) + ": batch sizes differ" + both());
    const bool batched = a.ndim() == 3 || b.ndim() == 3;
    const int64_t batch = A.batch > B.batch ? A.batch : B.batch;
    std::vector<py::ssize_t> out_shape;
    if (batched) out_shape.push_back(batch);
    out_shape.push_back(M);
    out_shape.push_back(N);
    py::array out;
    if (c) {
        out = *c;
        check_f32(out, op, "c");
        std::vector<int64_t> got(out.shape(), out.shape() + out.ndim());
        if (got != std::vector<int64_t>(out_shape.begin(), out_shape.end()))
            throw py::value_error(std::string(op) + ": c must have shape " +
                                  shape_str(std::vector<int64_t>(out_shape.begin(),
                                                                 out_shape.end())) +
                                  ", received " + shape_str(out) + both());
        if (!out.writeable()) throw py::value_error(std::string(op) + ": c is read-only");
        if (overlaps(out, a) || overlaps(out, b))
            throw py::value_error(std::string(op) + ": c must not share memory with a or b");
    } else {
        out = empty_f32(out_shape);
        beta = 0.0f;  // a fresh output holds garbage: never read it
    }
    const float* bias_p = nullptr;
    if (bias) {
        check_f32(*bias, op, "bias", 1);
        check_shape(*bias, {N}, op, "bias");
        bias_p = ptr_f32(*bias);
    }
    const float* pa = ptr_f32(a);
    const float* pb = ptr_f32(b);
    float* pc = mut_f32(out);
    const int64_t lda = A.cols, ldb = B.cols;
    const int64_t sa = A.batch == 1 ? 0 : A.rows * A.cols, sb = B.batch == 1 ? 0 : B.rows * B.cols;
    {
        py::gil_scoped_release release;
        if (batch == 1)
            k.bias_act(ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, bias_p, relu, pc, N);
        else if (!bias_p && !relu)
            k.strided_batched(ta, tb, batch, M, N, K, alpha, pa, lda, sa, pb, ldb, sb, beta, pc,
                              N, M * N);
        else
            for (int64_t i = 0; i < batch; i++)
                k.bias_act(ta, tb, M, N, K, alpha, pa + i * sa, lda, pb + i * sb, ldb, beta,
                           bias_p, relu, pc + i * M * N, N);
    }
    return out;
}

}  // namespace

void bind_gemm_ops(py::module_& m, const GemmKernels& k) {
    const std::string sx = k.suffix, doc = k.doc;
    m.def(keep("sgemm" + sx),
          [k](const py::array& a, const py::array& b, bool trans_a, bool trans_b, float alpha,
              float beta, std::optional<py::array> c, std::optional<py::array> bias, bool relu) {
              return gemm(k, "sgemm", a, b, trans_a, trans_b, alpha, beta, c, bias, relu);
          },
          py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
          py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f, py::arg("c") = py::none(),
          py::arg("bias") = py::none(), py::arg("relu") = false,
          keep(doc +
               "c = act(alpha * op(a) @ op(b) + beta * c + bias) for C-contiguous float32 a, b: "
               "2-D, or 3-D (batch, rows, cols) with equal batches or a batch of 1. op(x) is x "
               "or, with trans_x, its last two axes swapped (no copy). Writes into c when given "
               "(beta applies) and returns it; otherwise returns a new array. act is ReLU when "
               "relu=True."));
    m.def(keep("matmul" + sx),
          [k](const py::array& a, const py::array& b, bool trans_a, bool trans_b) {
              return gemm(k, "matmul", a, b, trans_a, trans_b, 1.0f, 0.0f, std::nullopt,
                          std::nullopt, false);
          },
          py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
          keep(doc + "op(a) @ op(b) as a new float32 array (2-D, or batched 3-D; see sgemm" +
               sx + ")."));
}

void bind_gemm(py::module_& m) {
    bind_gemm_ops(m, {"", "", &sgemm_bias_act, &sgemm_strided_batched});
    m.def("sgemm_reference",
          [](const py::array& a, const py::array& b, bool trans_a, bool trans_b, float alpha,
             float beta, std::optional<py::array> c) {
              check_f32(a, "sgemm_reference", "a", 2);
              check_f32(b, "sgemm_reference", "b", 2);
              const int64_t M = trans_a ? a.shape(1) : a.shape(0);
              const int64_t K = trans_a ? a.shape(0) : a.shape(1);
              const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
              const int64_t N = trans_b ? b.shape(0) : b.shape(1);
              if (K != Kb)
                  throw py::value_error("sgemm_reference: inner dimensions differ: a " +
                                        shape_str(a) + " and b " + shape_str(b));
              py::array out;
              if (c) {
                  out = *c;
                  check_f32(out, "sgemm_reference", "c", 2);
                  check_shape(out, {M, N}, "sgemm_reference", "c");
              } else {
                  out = empty_f32({M, N});
                  beta = 0.0f;
              }
              const float* pa = ptr_f32(a);
              const float* pb = ptr_f32(b);
              float* pc = mut_f32(out);
              const int64_t lda = a.shape(1), ldb = b.shape(1);
              {
                  py::gil_scoped_release release;
                  sgemm_reference(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc,
                                  N);
              }
              return out;
          },
          py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
          py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f, py::arg("c") = py::none(),
          "The plain triple loop (double accumulation): the test oracle for sgemm.");
    m.def("fma_peak_gflops",
          [](int threads, double seconds) {
              if (threads < 1 || threads > 1024)
                  throw py::value_error("fma_peak_gflops: threads must be in [1, 1024], received " +
                                        std::to_string(threads));
              py::gil_scoped_release nogil;
              return fma_peak_gflops(threads, seconds);
          },
          py::arg("threads"), py::arg("seconds") = 0.2,
          "Measured FP32 FMA peak (GFLOP/s) of the active ISA on `threads` threads.");
}

}  // namespace grebe
