// Tensor: a dtype, a row-major shape and a pointer to the elements.
//
// A Tensor either owns its buffer (Allocate: 64-byte aligned, shared between
// copies of the Tensor) or is a view of memory owned elsewhere (View: a numpy
// array, an arena slice). Copying a Tensor never copies elements. A Tensor is
// not synchronised: share it between threads only for reading.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "servekit/util/dtype.h"
#include "servekit/util/status.h"

namespace servekit {

using Shape = absl::InlinedVector<int64_t, 6>;

// Product of the dims (1 for a scalar). Callers validate shapes first.
int64_t NumElements(const Shape& shape);
// Like NumElements, but fails on negative dims or a product over `limit`.
StatusOr<int64_t> CheckedNumElements(const Shape& shape, int64_t limit);
// "[2, 3, 4]".
std::string ShapeToString(const Shape& shape);

inline constexpr size_t kTensorAlignment = 64;

class Tensor {
 public:
  Tensor() = default;

  // A new owned, uninitialised buffer; ResourceExhausted if it cannot be allocated.
  static StatusOr<Tensor> Allocate(DType dtype, Shape shape);
  // The same for a request's short-lived tensors (a Session's outputs): large
  // buffers are recycled between requests (util/recycled_buffers.h says why).
  static StatusOr<Tensor> AllocateRecycled(DType dtype, Shape shape);
  // A view of `data`, which must outlive every use of the view.
  static Tensor View(DType dtype, Shape shape, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const { return shape_[axis]; }
  int64_t num_elements() const { return NumElements(shape_); }
  size_t num_bytes() const { return num_elements() * DTypeSize(dtype_); }
  bool is_owner() const { return buffer_ != nullptr; }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Points this tensor at other memory (used by the memory plan); drops ownership.
  void Rebind(DType dtype, Shape shape, void* data);
  // Same elements, another shape with the same element count.
  Tensor Reshaped(Shape shape) const;
  // A deep copy into a new owned buffer.
  StatusOr<Tensor> Clone() const;
  // A new tensor with the axes permuted: result.dim(i) == dim(perm[i]).
  // `perm` must be a permutation of [0, rank) (the caller checks).
  StatusOr<Tensor> PermuteAxes(const std::vector<int64_t>& perm) const;

 private:
  static StatusOr<Tensor> AllocateFrom(DType dtype, Shape shape, bool recycled);
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> buffer_;  // null for views
};

}  // namespace servekit
