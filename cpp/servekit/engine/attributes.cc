#include "servekit/engine/attributes.h"

namespace servekit {

template <typename T>
StatusOr<T> Attributes::Get(const std::string& name, const T& fallback,
                            const char* type_name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (const T* value = std::get_if<T>(&it->second)) return *value;
  return absl::InvalidArgumentError(
      absl::StrCat("attribute '", name, "' must be of type ", type_name));
}

StatusOr<int64_t> Attributes::GetInt(const std::string& name, int64_t fallback) const {
  return Get<int64_t>(name, fallback, "int");
}

StatusOr<float> Attributes::GetFloat(const std::string& name, float fallback) const {
  return Get<float>(name, fallback, "float");
}

StatusOr<std::string> Attributes::GetString(const std::string& name,
                                            const std::string& fallback) const {
  return Get<std::string>(name, fallback, "string");
}

StatusOr<std::vector<int64_t>> Attributes::GetInts(const std::string& name,
                                                   const std::vector<int64_t>& fallback) const {
  return Get<std::vector<int64_t>>(name, fallback, "ints");
}

StatusOr<std::vector<float>> Attributes::GetFloats(const std::string& name,
                                                   const std::vector<float>& fallback) const {
  return Get<std::vector<float>>(name, fallback, "floats");
}

StatusOr<const Tensor*> Attributes::GetTensor(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return nullptr;
  if (const Tensor* value = std::get_if<Tensor>(&it->second)) return value;
  return absl::InvalidArgumentError(absl::StrCat("attribute '", name, "' must be a tensor"));
}

}  // namespace servekit
