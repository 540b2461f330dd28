// common.h — what every binding uses: float32 array checks with messages that name the op,
// the argument and the expected vs received shape/dtype. Kernels trust their inputs; these
// checks are why they may.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace grebe {
namespace py = pybind11;

using f32array = py::array_t<float, py::array::c_style>;
using i32array = py::array_t<int32_t, py::array::c_style>;

inline std::string shape_str(const py::array& a) {
    std::ostringstream s;
    s << "(";
    for (py::ssize_t i = 0; i < a.ndim(); i++) s << (i ? ", " : "") << a.shape(i);
    if (a.ndim() == 1) s << ",";
    s << ")";
    return s.str();
}

inline std::string shape_str(const std::vector<int64_t>& v) {
    std::ostringstream s;
    s << "(";
    for (size_t i = 0; i < v.size(); i++) s << (i ? ", " : "") << v[i];
    if (v.size() == 1) s << ",";
    s << ")";
    return s.str();
}

// Raises TypeError unless `a` is a C-contiguous float32 array; ValueError unless its rank is
// `ndim` (pass -1 for any rank).
inline void check_f32(const py::array& a, const char* op, const char* arg, int ndim = -1) {
    if (!py::isinstance<py::array_t<float>>(a) || a.dtype().kind() != 'f' ||
        a.dtype().itemsize() != 4)
        throw py::type_error(std::string(op) + ": " + arg + " must be float32, received dtype " +
                             std::string(py::str(a.dtype())));
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(op) + ": " + arg + " must be C-contiguous");
    if (ndim >= 0 && a.ndim() != ndim)
        throw py::value_error(std::string(op) + ": " + arg + " must have rank " +
                              std::to_string(ndim) + ", received shape " + shape_str(a));
}

// Raises ValueError unless `a` has exactly `shape` (entries < 0 match anything).
inline void check_shape(const py::array& a, std::initializer_list<int64_t> shape, const char* op,
                        const char* arg) {
    std::vector<int64_t> want(shape);
    bool ok = a.ndim() == static_cast<py::ssize_t>(want.size());
    for (size_t i = 0; ok && i < want.size(); i++)
        ok = want[i] < 0 || a.shape(i) == want[i];
    if (!ok)
        throw py::value_error(std::string(op) + ": " + arg + " must have shape " +
                              shape_str(want) + ", received " + shape_str(a));
}

inline float* mut_f32(py::array& a) { return static_cast<float*>(a.mutable_data()); }
inline const float* ptr_f32(const py::array& a) { return static_cast<const float*>(a.data()); }

// A fresh, uninitialized float32 array of the given shape.
inline f32array empty_f32(const std::vector<py::ssize_t>& shape) { return f32array(shape); }

}  // namespace grebe
