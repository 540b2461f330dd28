// rnn.cpp — bindings of the recurrent-layer kernels: _C.{lstm,gru,simple_rnn}_{forward,backward}.
// One call runs a whole sequence (one direction), forward or backward. Every shape, dtype and
// contiguity is checked here, naming the op, the argument and the expected vs received shape.
#include <optional>

#include "bindings/common.h"
#include "bindings/variants.h"
#include "kernels/rnn.h"

namespace grebe {
namespace {

using opt_array = std::optional<py::array>;

std::string op_name(RnnCell cell, bool backward, const char* suffix) {
    const char* base;
    switch (cell) {
        case RnnCell::lstm: base = backward ? "lstm_backward" : "lstm_forward"; break;
        case RnnCell::simple:
            base = backward ? "simple_rnn_backward" : "simple_rnn_forward";
            break;
        default: base = backward ? "gru_backward" : "gru_forward"; break;
    }
    return std::string(base) + suffix;
}

RnnAct parse_act(int v, const char* op, const char* arg) {
    if (v < 0 || v > static_cast<int>(RnnAct::linear))
        throw py::value_error(std::string(op) + ": unknown " + arg + " code " + std::to_string(v));
    return static_cast<RnnAct>(v);
}

const float* opt_in(const opt_array& a, std::initializer_list<int64_t> shape, const char* op,
                    const char* arg) {
    if (!a || a->is_none()) return nullptr;
    check_f32(*a, op, arg);
    check_shape(*a, shape, op, arg);
    return ptr_f32(*a);
}

// The arguments both passes share: sizes, weights, biases, mask, recurrent dropout.
RnnArgs common(const std::string& op_str, RnnCell cell, const py::array& x, const py::array& W,
               const py::array& R, const opt_array& bx, const opt_array& bh,
               const opt_array& mask, const opt_array& rdrop, int act, int ract, bool reverse) {
    const char* op = op_str.c_str();
    RnnArgs a;
    a.cell = cell;
    a.act = parse_act(act, op, "activation");
    a.ract = parse_act(ract, op, "recurrent_activation");
    a.reverse = reverse;
    check_f32(x, op, "x", 3);
    a.B = x.shape(0);
    a.T = x.shape(1);
    a.F = x.shape(2);
    check_f32(R, op, "recurrent_kernel", 2);
    a.U = R.shape(0);
    const int64_t G = rnn_gates(cell), GU = G * a.U;
    if (a.T == 0)
        throw py::value_error(std::string(op) + ": expected at least one timestep, received x of "
                              "shape " + shape_str(x));
    check_shape(R, {a.U, GU}, op, "recurrent_kernel");
    check_f32(W, op, "kernel", 2);
    check_shape(W, {a.F, GU}, op, "kernel");
    a.x = ptr_f32(x);
    a.W = ptr_f32(W);
    a.R = ptr_f32(R);
    a.bx = opt_in(bx, {GU}, op, "bias");
    a.bh = opt_in(bh, {GU}, op, "recurrent_bias");
    if (a.bh && cell != RnnCell::gru)
        throw py::value_error(std::string(op) + ": recurrent_bias is only for GRU reset_after");
    if (mask && !mask->is_none()) {
        const py::array& m = *mask;
        if (m.dtype().itemsize() != 1 || (m.dtype().kind() != 'b' && m.dtype().kind() != 'u'))
            throw py::type_error(std::string(op) + ": mask must be bool or uint8, received dtype " +
                                 std::string(py::str(m.dtype())));
        if (!(m.flags() & py::array::c_style))
            throw py::value_error(std::string(op) + ": mask must be C-contiguous");
        check_shape(m, {a.B, a.T}, op, "mask");
        a.mask = static_cast<const uint8_t*>(m.data());
    }
    a.rdrop = opt_in(rdrop, {G, a.B, a.U}, op, "recurrent_dropout_mask");
    return a;
}

py::object none_or(bool cond, py::array arr) { return cond ? py::object(arr) : py::none(); }

// Returns (y or None, hT, cT or None, saved or None); saved = (hs, cs, gates, aux).
py::tuple forward(const RnnKernels& k, RnnCell cell, const py::array& x, const opt_array& h0,
                  const opt_array& c0,
                  const py::array& W, const py::array& R, const opt_array& bx,
                  const opt_array& bh, const opt_array& mask, const opt_array& rdrop, int act,
                  int ract, bool reverse, bool return_sequences, bool training) {
    const std::string op_str = op_name(cell, false, k.suffix);
    const char* op = op_str.c_str();
    RnnArgs a = common(op_str, cell, x, W, R, bx, bh, mask, rdrop, act, ract, reverse);
    const bool lstm = cell == RnnCell::lstm;
    const py::ssize_t B = a.B, T = a.T, U = a.U, GU = rnn_gates(cell) * a.U;
    a.h0 = opt_in(h0, {a.B, a.U}, op, "initial h state");
    a.c0 = lstm ? opt_in(c0, {a.B, a.U}, op, "initial c state") : nullptr;
    f32array y = return_sequences ? empty_f32({B, T, U}) : empty_f32({0});
    f32array hT = empty_f32({B, U});
    f32array cT = empty_f32({lstm ? B : 0, U});
    const bool aux = cell != RnnCell::simple;
    f32array hs = empty_f32({training ? T + 1 : 0, B, U});
    f32array cs = empty_f32({training && lstm ? T + 1 : 0, B, U});
    f32array gates = empty_f32({training && cell != RnnCell::simple ? T : 0, B, GU});
    f32array auxa = empty_f32({training && aux ? T : 0, B, U});
    a.y = return_sequences ? y.mutable_data() : nullptr;
    a.hT = hT.mutable_data();
    a.cT = lstm ? cT.mutable_data() : nullptr;
    if (training) {
        a.hs = hs.mutable_data();
        a.cs = lstm ? cs.mutable_data() : nullptr;
        a.gates = cell != RnnCell::simple ? gates.mutable_data() : nullptr;
        a.aux = aux ? auxa.mutable_data() : nullptr;
    }
    {
        py::gil_scoped_release release;
        k.forward(a);
    }
    py::object saved = training ? py::object(py::make_tuple(hs, cs, gates, auxa)) : py::none();
    return py::make_tuple(none_or(return_sequences, y), hT, none_or(lstm, cT), saved);
}

// Returns (dx, dh0, dc0, dW, dR, dbx, dbh), None where not requested.
py::tuple backward(const RnnKernels& k, RnnCell cell, const py::array& x, const py::array& W,
                   const py::array& R,
                   const opt_array& bx, const opt_array& bh, const opt_array& mask,
                   const opt_array& rdrop, int act, int ract, bool reverse, const py::tuple& saved,
                   const opt_array& dy, const opt_array& dhT, const opt_array& dcT, bool need_dx,
                   bool need_dh0, bool need_dc0, bool need_dW, bool need_dR, bool need_db) {
    const std::string op_str = op_name(cell, true, k.suffix);
    const char* op = op_str.c_str();
    RnnArgs a = common(op_str, cell, x, W, R, bx, bh, mask, rdrop, act, ract, reverse);
    const bool lstm = cell == RnnCell::lstm;
    const int64_t B = a.B, T = a.T, U = a.U, F = a.F, GU = rnn_gates(cell) * a.U;
    if (saved.size() != 4)
        throw py::value_error(std::string(op) + ": saved must be the 4-tuple the forward returned");
    py::array hs = saved[0], cs = saved[1], gates = saved[2], aux = saved[3];
    check_f32(hs, op, "saved hs");
    check_shape(hs, {T + 1, B, U}, op, "saved hs (was the forward run with training=True?)");
    a.hs = const_cast<float*>(ptr_f32(hs));
    if (lstm) {
        check_f32(cs, op, "saved cs");
        check_shape(cs, {T + 1, B, U}, op, "saved cs");
        a.cs = const_cast<float*>(ptr_f32(cs));
    }
    if (cell != RnnCell::simple) {
        check_f32(gates, op, "saved gates");
        check_shape(gates, {T, B, GU}, op, "saved gates");
        check_f32(aux, op, "saved aux");
        check_shape(aux, {T, B, U}, op, "saved aux");
        a.gates = const_cast<float*>(ptr_f32(gates));
        a.aux = const_cast<float*>(ptr_f32(aux));
    }
    a.dy = opt_in(dy, {B, T, U}, op, "dy");
    a.dhT = opt_in(dhT, {B, U}, op, "dh (final h state)");
    a.dcT = lstm ? opt_in(dcT, {B, U}, op, "dc (final c state)") : nullptr;
    f32array dx = empty_f32({need_dx ? B : 0, T, F});
    f32array dh0 = empty_f32({need_dh0 ? B : 0, U});
    f32array dc0 = empty_f32({need_dc0 && lstm ? B : 0, U});
    f32array dW = empty_f32({need_dW ? F : 0, GU});
    f32array dR = empty_f32({need_dR ? U : 0, GU});
    const bool has_bx = a.bx != nullptr, has_bh = a.bh != nullptr;
    f32array dbx = empty_f32({need_db && has_bx ? GU : 0});
    f32array dbh = empty_f32({need_db && has_bh ? GU : 0});
    a.dx = need_dx ? dx.mutable_data() : nullptr;
    a.dh0 = need_dh0 ? dh0.mutable_data() : nullptr;
    a.dc0 = need_dc0 && lstm ? dc0.mutable_data() : nullptr;
    a.dW = need_dW ? dW.mutable_data() : nullptr;
    a.dR = need_dR ? dR.mutable_data() : nullptr;
    a.dbx = need_db && has_bx ? dbx.mutable_data() : nullptr;
    a.dbh = need_db && has_bh ? dbh.mutable_data() : nullptr;
    {
        py::gil_scoped_release release;
        k.backward(a);
    }
    return py::make_tuple(none_or(need_dx, dx), none_or(need_dh0, dh0),
                          none_or(need_dc0 && lstm, dc0), none_or(need_dW, dW),
                          none_or(need_dR, dR), none_or(a.dbx != nullptr, dbx),
                          none_or(a.dbh != nullptr, dbh));
}

}  // namespace

// The cell and activation codes, exported so Python names them instead of copying integers.
void bind_rnn_enums(py::module_& m) {
    py::enum_<RnnCell>(m, "RnnCell", "Recurrent cell kinds of the RNN kernels (kernels/rnn.h).")
        .value("simple", RnnCell::simple)
        .value("lstm", RnnCell::lstm)
        .value("gru", RnnCell::gru)
        .value("gru_reset_before", RnnCell::gru_reset_before);
    py::enum_<RnnAct>(m, "RnnAct", "Activations the RNN kernels apply (kernels/rnn.h).")
        .value("tanh", RnnAct::tanh)
        .value("sigmoid", RnnAct::sigmoid)
        .value("relu", RnnAct::relu)
        .value("hard_sigmoid", RnnAct::hard_sigmoid)
        .value("linear", RnnAct::linear);
}

void bind_rnn_ops(py::module_& m, const RnnKernels& k) {
    using namespace py::literals;
    const std::string sx = k.suffix, doc = k.doc;
    const char* fdoc = keep(doc +
        "Whole-sequence forward. x (B,T,F), h0/c0 (B,U) or None, kernel (F,GU), "
        "recurrent_kernel (U,GU), bias (GU) or None, recurrent_bias (GU) (GRU reset_after) or "
        "None, mask (B,T) bool/uint8 or None, recurrent_dropout_mask (G,B,U) or None; activation "
        "and recurrent_activation: RnnAct codes. Returns (y (B,T,U) or None, "
        "hT, cT or None, saved or None).");
    const char* bdoc = keep(doc +
        "Whole-sequence BPTT over a training forward's saved tuple. Returns (dx, dh0, dc0, "
        "dkernel, drecurrent_kernel, dbias, drecurrent_bias), None where not requested.");
    auto bind_cell = [&](const std::string& fname, const std::string& bname, auto cell_of) {
        m.def(keep(fname + sx),
              [k, cell_of](const py::array& x, const opt_array& h0, const opt_array& c0,
                        const py::array& W, const py::array& R, const opt_array& bx,
                        const opt_array& bh, const opt_array& mask, const opt_array& rdrop,
                        int act, int ract, bool reverse, bool return_sequences, bool training,
                        bool reset_after) {
                  return forward(k, cell_of(reset_after), x, h0, c0, W, R, bx, bh, mask, rdrop, act,
                                 ract, reverse, return_sequences, training);
              },
              "x"_a, "h0"_a = py::none(), "c0"_a = py::none(), "kernel"_a,
              "recurrent_kernel"_a, "bias"_a = py::none(), "recurrent_bias"_a = py::none(),
              "mask"_a = py::none(), "recurrent_dropout_mask"_a = py::none(),
              "activation"_a = 0, "recurrent_activation"_a = 1, "reverse"_a = false,
              "return_sequences"_a = true, "training"_a = false, "reset_after"_a = true, fdoc);
        m.def(keep(bname + sx),
              [k, cell_of](const py::array& x, const py::array& W, const py::array& R,
                        const opt_array& bx, const opt_array& bh, const opt_array& mask,
                        const opt_array& rdrop, int act, int ract, bool reverse,
                        const py::tuple& saved, const opt_array& dy, const opt_array& dhT,
                        const opt_array& dcT, bool need_dx, bool need_dh0, bool need_dc0,
                        bool need_dW, bool need_dR, bool need_db, bool reset_after) {
                  return backward(k, cell_of(reset_after), x, W, R, bx, bh, mask, rdrop, act, ract,
                                  reverse, saved, dy, dhT, dcT, need_dx, need_dh0, need_dc0,
                                  need_dW, need_dR, need_db);
              },
              "x"_a, "kernel"_a, "recurrent_kernel"_a, "bias"_a = py::none(),
              "recurrent_bias"_a = py::none(), "mask"_a = py::none(),
              "recurrent_dropout_mask"_a = py::none(), "activation"_a = 0,
              "recurrent_activation"_a = 1, "reverse"_a = false, "saved"_a, "dy"_a = py::none(),
              "dhT"_a = py::none(), "dcT"_a = py::none(), "need_dx"_a = true,
              "need_dh0"_a = true, "need_dc0"_a = true, "need_dW"_a = true, "need_dR"_a = true,
              "need_db"_a = true, "reset_after"_a = true, bdoc);
    };
    bind_cell("lstm_forward", "lstm_backward", [](bool) { return RnnCell::lstm; });
    bind_cell("gru_forward", "gru_backward",
              [](bool after) { return after ? RnnCell::gru : RnnCell::gru_reset_before; });
    bind_cell("simple_rnn_forward", "simple_rnn_backward", [](bool) { return RnnCell::simple; });
}

void bind_rnn(py::module_& m) {
    using namespace py::literals;
    bind_rnn_enums(m);
    bind_rnn_ops(m, {"", "", &rnn_forward, &rnn_backward});
    m.def("rnn_uses_fused_path",
          [](int cell, bool recurrent_dropout) {
              if (cell < 0 || cell > static_cast<int>(RnnCell::gru_reset_before))
                  throw py::value_error("rnn_uses_fused_path: unknown RnnCell code " +
                                        std::to_string(cell));
              RnnArgs a;
              a.cell = static_cast<RnnCell>(cell);
              static const float dummy = 0.0f;
              a.rdrop = recurrent_dropout ? &dummy : nullptr;
              return rnn_uses_fused_path(a);
          },
          "cell"_a, "recurrent_dropout"_a = false,
          "Whether the fused AVX2 pass serves this cell (an RnnCell) on this CPU.");
}

}  // namespace grebe
