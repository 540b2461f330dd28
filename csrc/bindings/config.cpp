// config.cpp — ISA dispatch and thread-budget controls, and build information.
#include <omp.h>

#include "bindings/common.h"
#include "kernels/runtime.h"

namespace grebe {

void bind_config(py::module_& m) {
    m.def("detect_isa", [] { return std::string(isa_name(detect_isa())); },
          "Best instruction set this CPU supports: 'avx512', 'avx2' or 'generic'.");
    m.def("active_isa", [] { return std::string(isa_name(active_isa())); },
          "Instruction set the kernels dispatch on now.");
    m.def("set_isa", [](const std::string& name) {
        Isa isa;
        if (!parse_isa(name, &isa))
            throw py::value_error("set_isa: expected 'generic', 'avx2' or 'avx512', received '" +
                                  name + "'");
        if (!set_isa(isa))
            throw py::value_error(std::string("set_isa: this CPU does not support '") + name +
                                  "' (best: '" + isa_name(detect_isa()) + "')");
    }, py::arg("name"));
    m.def("num_threads", &num_threads);
    m.def("set_num_threads", [](int64_t n) {
        if (n < 1 || n > max_threads())
            throw py::value_error("set_num_threads: expected a positive integer at most " +
                                  std::to_string(max_threads()) + " (4 x the logical CPUs). "
                                  "Received: n=" + std::to_string(n));
        set_num_threads(static_cast<int>(n));
    }, py::arg("n"));
    m.def("max_threads", &max_threads, "The largest thread budget set_num_threads accepts.");
    m.def("physical_cores", &physical_cores);
    m.attr("compiler") = GREBE_COMPILER;
    m.attr("openmp_version") = _OPENMP;
}

}  // namespace grebe
