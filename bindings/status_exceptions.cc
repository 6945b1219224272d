#include "status_exceptions.h"

#include <map>

namespace py = pybind11;

namespace servekit::bindings {
namespace {

// Created once at import; the module keeps them alive.
std::map<absl::StatusCode, PyObject*>& ExceptionTypes() {
  static auto* types = new std::map<absl::StatusCode, PyObject*>();
  return *types;
}
PyObject* g_base_error = nullptr;

PyObject* NewException(py::module_& m, const char* name, PyObject* bases) {
  const std::string qualified = std::string("servekit._core.") + name;
  PyObject* type = PyErr_NewException(qualified.c_str(), bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(type));
  return type;
}

}  // namespace

void RegisterExceptions(py::module_& m) {
  g_base_error = NewException(m, "Error", PyExc_Exception);
  auto with_builtin = [&](const char* name, PyObject* builtin) {
    py::tuple bases = py::make_tuple(py::handle(g_base_error), py::handle(builtin));
    return NewException(m, name, bases.ptr());
  };
  auto plain = [&](const char* name) { return NewException(m, name, g_base_error); };
  auto& types = ExceptionTypes();
  types[absl::StatusCode::kInvalidArgument] =
      with_builtin("InvalidArgumentError", PyExc_ValueError);
  types[absl::StatusCode::kOutOfRange] = types[absl::StatusCode::kInvalidArgument];
  types[absl::StatusCode::kNotFound] = with_builtin("NotFoundError", PyExc_LookupError);
  types[absl::StatusCode::kResourceExhausted] =
      with_builtin("ResourceExhaustedError", PyExc_MemoryError);
  types[absl::StatusCode::kUnavailable] = plain("UnavailableError");
  types[absl::StatusCode::kFailedPrecondition] = plain("FailedPreconditionError");
  types[absl::StatusCode::kUnimplemented] = plain("UnimplementedError");
  types[absl::StatusCode::kDataLoss] = plain("DataLossError");
  types[absl::StatusCode::kAlreadyExists] = plain("AlreadyExistsError");
  types[absl::StatusCode::kDeadlineExceeded] = plain("DeadlineExceededError");
  types[absl::StatusCode::kInternal] = plain("InternalError");
}

void RaiseStatus(const absl::Status& status) {
  auto& types = ExceptionTypes();
  auto it = types.find(status.code());
  PyObject* type = it != types.end() ? it->second : types[absl::StatusCode::kInternal];
  const absl::string_view message = status.message();
  // Messages quote names from model files; undecodable bytes are escaped, never fatal.
  PyObject* text = PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()),
                                        "backslashreplace");
  PyErr_SetObject(type, text);
  Py_XDECREF(text);
  throw py::error_already_set();
}

}  // namespace servekit::bindings
