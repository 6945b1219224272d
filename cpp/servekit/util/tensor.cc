#include "servekit/util/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "servekit/util/recycled_buffers.h"

namespace servekit {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<int64_t> CheckedNumElements(const Shape& shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in shape ", ShapeToString(shape)));
    if (d != 0 && n > limit / d) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has more than ", limit, " elements"));
    }
    n *= d;
  }
  return n;
}

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

StatusOr<Tensor> Tensor::Allocate(DType dtype, Shape shape) {
  return AllocateFrom(dtype, std::move(shape), /*recycled=*/false);
}

StatusOr<Tensor> Tensor::AllocateRecycled(DType dtype, Shape shape) {
  return AllocateFrom(dtype, std::move(shape), /*recycled=*/true);
}

StatusOr<Tensor> Tensor::AllocateFrom(DType dtype, Shape shape, bool recycled) {
  ASSIGN_OR_RETURN(int64_t elements,
                   CheckedNumElements(shape, std::numeric_limits<int64_t>::max() / 16));
  const size_t bytes = static_cast<size_t>(elements) * DTypeSize(dtype);
  size_t capacity = 0;
  void* data = nullptr;
  if (recycled) {
    data = AcquireBuffer(bytes, &capacity);
  } else {
    // Round up: aligned_alloc wants a multiple of the alignment; never ask for 0.
    capacity =
        std::max<size_t>(1, (bytes + kTensorAlignment - 1) / kTensorAlignment) * kTensorAlignment;
    data = std::aligned_alloc(kTensorAlignment, capacity);
  }
  if (data == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate ", bytes, " bytes for a tensor of shape ", ShapeToString(shape)));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  if (recycled) {
    t.buffer_ = std::shared_ptr<void>(data, [capacity](void* p) { ReleaseBuffer(p, capacity); });
  } else {
    t.buffer_ = std::shared_ptr<void>(data, std::free);
  }
  return t;
}

Tensor Tensor::View(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

void Tensor::Rebind(DType dtype, Shape shape, void* data) {
  dtype_ = dtype;
  shape_ = std::move(shape);
  data_ = data;
  buffer_.reset();
}

Tensor Tensor::Reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

namespace {

// Copies `from` into `to` in the permuted order: `shape` is the result's,
// `strides[i]` the source stride (in elements) of result axis i. The innermost
// result axis is a strided loop; the outer ones advance one offset.
template <typename T>
void CopyPermuted(const T* from, T* to, const Shape& shape, const std::vector<int64_t>& strides) {
  const int r = static_cast<int>(shape.size());
  if (r == 0) {
    *to = *from;
    return;
  }
  const int64_t inner = shape[r - 1];
  const int64_t inner_stride = strides[r - 1];
  std::vector<int64_t> index(r - 1, 0);
  int64_t offset = 0;
  while (true) {
    const T* src = from + offset;
    for (int64_t j = 0; j < inner; ++j) to[j] = src[j * inner_stride];
    to += inner;
    int i = r - 2;
    for (; i >= 0; --i) {
      offset += strides[i];
      if (++index[i] < shape[i]) break;
      offset -= strides[i] * shape[i];
      index[i] = 0;
    }
    if (i < 0) return;
  }
}

// An element of `size` bytes, copied as one value.
template <size_t size>
struct Element {
  char bytes[size];
};

}  // namespace

StatusOr<Tensor> Tensor::PermuteAxes(const std::vector<int64_t>& perm) const {
  const int r = rank();
  Shape permuted(r);
  for (int i = 0; i < r; ++i) permuted[i] = shape_[perm[i]];
  ASSIGN_OR_RETURN(Tensor out, Allocate(dtype_, permuted));
  if (out.num_elements() == 0) return out;
  std::vector<int64_t> strides(r, 1);  // of this tensor
  for (int i = r - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape_[i + 1];
  std::vector<int64_t> permuted_strides(r);  // of result axis i, in this tensor
  for (int i = 0; i < r; ++i) permuted_strides[i] = strides[perm[i]];
  // Elements copied as whole values of their size (no dtype has 2 bytes yet).
  auto copy = [&](auto element) {
    using E = decltype(element);
    CopyPermuted(static_cast<const E*>(data_), static_cast<E*>(out.raw_data()), permuted,
                 permuted_strides);
  };
  switch (DTypeSize(dtype_)) {
    case 1:
      copy(Element<1>{});
      break;
    case 4:
      copy(Element<4>{});
      break;
    case 8:
      copy(Element<8>{});
      break;
    default:
      return absl::InternalError(
          absl::StrCat("PermuteAxes: no copy for elements of ", DTypeSize(dtype_), " bytes"));
  }
  return out;
}

StatusOr<Tensor> Tensor::Clone() const {
  ASSIGN_OR_RETURN(Tensor copy, Allocate(dtype_, shape_));
  if (num_bytes() > 0) std::memcpy(copy.raw_data(), data_, num_bytes());
  return copy;
}

}  // namespace servekit
