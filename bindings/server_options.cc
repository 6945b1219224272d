#include "server_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "status_exceptions.h"

namespace py = pybind11;

namespace servekit::bindings {
namespace {

OptionValue ValueOf(const py::handle& object, const std::string& name) {
  if (object.is_none()) return std::monostate();
  if (PyBool_Check(object.ptr())) return object.cast<bool>();
  if (py::isinstance<py::str>(object)) return object.cast<std::string>();
  if (PyIndex_Check(object.ptr())) {
    const py::int_ integer = py::reinterpret_steal<py::int_>(PyNumber_Index(object.ptr()));
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(integer.ptr(), &overflow);
    if (overflow == 0) return static_cast<int64_t>(value);
    return PyLong_AsDouble(integer.ptr());  // refused by range, with the value shown
  }
  if (PyFloat_Check(object.ptr()) || py::hasattr(object, "__float__")) return object.cast<double>();
  throw py::type_error(
      absl::StrCat(name, ": unsupported value of type ",
                   std::string(py::str(py::type::handle_of(object).attr("__name__")))));
}

py::object PythonValue(const OptionValue& value) {
  struct {
    py::object operator()(std::monostate) const { return py::none(); }
    py::object operator()(bool b) const { return py::bool_(b); }
    py::object operator()(int64_t i) const { return py::int_(i); }
    py::object operator()(double d) const { return py::float_(d); }
    py::object operator()(const std::string& s) const { return py::str(s); }
  } convert;
  return std::visit(convert, value);
}

const char* KindName(OptionKind kind) {
  switch (kind) {
    case OptionKind::kBool:
      return "bool";
    case OptionKind::kInt:
      return "int";
    case OptionKind::kSeconds:
      return "seconds";
    case OptionKind::kText:
      return "text";
    case OptionKind::kPort:
      return "port";
    case OptionKind::kThreads:
      return "threads";
  }
  return "";
}

}  // namespace

ModelServerOptions ModelServerOptionsFrom(const py::dict& options, OptionScope scope,
                                          bool flag_names) {
  ModelServerOptions o;
  for (const auto& [key, value] : options) {
    const std::string name = py::str(key);
    const ServerOption* option = nullptr;
    for (const ServerOption& candidate : ServerOptionTable()) {
      if (candidate.name == name &&
          (scope == OptionScope::kServer || candidate.scope == OptionScope::kCore)) {
        option = &candidate;
      }
    }
    if (option == nullptr) throw py::type_error(absl::StrCat("unexpected option '", name, "'"));
    const std::string display =
        flag_names
            ? absl::StrCat("--", option->flag.empty() || option->flag == "-" ? name : option->flag)
            : name;
    ThrowIfError(SetServerOption(o, name, ValueOf(value, display), display));
  }
  return o;
}

py::list ServerOptionsForPython() {
  const ModelServerOptions defaults;
  py::list out;
  for (const ServerOption& option : ServerOptionTable()) {
    py::dict entry;
    entry["name"] = option.name;
    entry["flag"] = option.flag == "-"
                        ? py::object(py::none())
                        : py::object(py::str(option.flag.empty() ? option.name : option.flag));
    entry["kind"] = KindName(option.kind);
    entry["scope"] = option.scope == OptionScope::kCore ? "core" : "server";
    entry["help"] = option.help;
    entry["default"] = PythonValue(option.get(defaults));
    entry["flag_default"] = std::holds_alternative<std::monostate>(option.flag_default)
                                ? entry["default"]
                                : PythonValue(option.flag_default);
    out.append(entry);
  }
  return out;
}

absl::Duration Seconds(const char* name, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    throw py::value_error(
        absl::StrCat(name, " must be a finite number of seconds >= 0; got ", seconds));
  }
  if (seconds > 1e9)
    throw py::value_error(absl::StrCat(name, " must be at most 1e9 seconds; got ", seconds));
  return absl::Microseconds(static_cast<int64_t>(seconds * 1e6));
}

}  // namespace servekit::bindings
