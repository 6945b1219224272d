// Attributes: a node's named, typed attributes, with accessors that turn a
// missing or mistyped attribute into a Status naming the attribute.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {

using AttributeValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, Tensor>;

class Attributes {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  void Set(const std::string& name, AttributeValue value) { values_[name] = std::move(value); }
  void Erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, AttributeValue>& all() const { return values_; }

  // Each getter returns `fallback` when the attribute is absent and an
  // InvalidArgument error when it is present with another type.
  StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  StatusOr<float> GetFloat(const std::string& name, float fallback) const;
  StatusOr<std::string> GetString(const std::string& name, const std::string& fallback) const;
  StatusOr<std::vector<int64_t>> GetInts(const std::string& name,
                                         const std::vector<int64_t>& fallback) const;
  StatusOr<std::vector<float>> GetFloats(const std::string& name,
                                         const std::vector<float>& fallback) const;
  // The tensor attribute, or nullptr when absent.
  StatusOr<const Tensor*> GetTensor(const std::string& name) const;

 private:
  template <typename T>
  StatusOr<T> Get(const std::string& name, const T& fallback, const char* type_name) const;

  std::map<std::string, AttributeValue> values_;
};

}  // namespace servekit
