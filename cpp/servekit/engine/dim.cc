#include "servekit/engine/dim.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_join.h"

namespace servekit {

std::string Dim::ToString() const {
  if (!batch_) return absl::StrCat(value_);
  if (value_ == 1) return "N";
  return absl::StrCat(value_, "*N");
}

namespace {

Status Overflow(Dim a, absl::string_view op, Dim b) {
  return absl::InvalidArgumentError(absl::StrCat("shape arithmetic ", a.ToString(), " ", op, " ",
                                                 b.ToString(), " overflows int64"));
}

}  // namespace

StatusOr<Dim> MulDims(Dim a, Dim b) {
  if (!a.is_fixed() && !b.is_fixed()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape arithmetic ", a.ToString(), " * ", b.ToString(),
                     " multiplies the batch dimension by itself, which is not supported"));
  }
  int64_t product;
  if (__builtin_mul_overflow(a.value(), b.value(), &product)) return Overflow(a, "*", b);
  return (a.is_fixed() && b.is_fixed()) ? Dim::Fixed(product) : Dim::Batch(product);
}

StatusOr<Dim> DivDims(Dim a, Dim b) {
  // The one quotient that does not fit; x86 traps (SIGFPE) on it, even for `%`.
  if (b.value() == -1 && a.value() == std::numeric_limits<int64_t>::min())
    return Overflow(a, "/", b);
  if (!b.is_fixed()) {
    if (!a.is_fixed() && b.value() != 0 && a.value() % b.value() == 0) {
      return Dim::Fixed(a.value() / b.value());
    }
    return absl::InvalidArgumentError(
        absl::StrCat("shape arithmetic ", a.ToString(), " / ", b.ToString(), " is not supported"));
  }
  if (b.value() == 0 || a.value() % b.value() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape arithmetic ", a.ToString(), " / ", b.ToString(), " is not exact"));
  }
  return a.is_fixed() ? Dim::Fixed(a.value() / b.value()) : Dim::Batch(a.value() / b.value());
}

StatusOr<Dim> AddDims(Dim a, Dim b) {
  if (a.is_fixed() == b.is_fixed()) {
    int64_t sum;
    if (__builtin_add_overflow(a.value(), b.value(), &sum)) return Overflow(a, "+", b);
    return a.is_fixed() ? Dim::Fixed(sum) : Dim::Batch(sum);
  }
  if (a.value() == 0) return b;
  if (b.value() == 0) return a;
  return absl::InvalidArgumentError(absl::StrCat("shape arithmetic ", a.ToString(), " + ",
                                                 b.ToString(),
                                                 " mixes the batch size with a constant"));
}

StatusOr<Dim> SubDims(Dim a, Dim b) {
  if (!b.is_fixed()) {
    return absl::InvalidArgumentError(absl::StrCat("shape arithmetic ", a.ToString(), " - ",
                                                   b.ToString(), " subtracts the batch size"));
  }
  if (b.value() == std::numeric_limits<int64_t>::min()) return Overflow(a, "-", b);
  return AddDims(a, Dim::Fixed(-b.value()));
}

bool IsFixed(const SymShape& shape) {
  return std::all_of(shape.begin(), shape.end(), [](const Dim& d) { return d.is_fixed(); });
}

bool BroadcastsAlongTrailingAxes(const SymShape& param, const SymShape& x, int axis) {
  if (param.size() > x.size()) return false;
  const size_t offset = x.size() - param.size();
  for (size_t i = 0; i < param.size(); ++i) {
    const bool one = param[i] == Dim::Fixed(1);
    const bool leading = static_cast<int>(offset + i) < axis;
    if (leading ? !one : !(one || param[i] == x[offset + i])) return false;
  }
  return true;
}

Shape Evaluate(const SymShape& shape, int64_t batch) {
  Shape out;
  out.reserve(shape.size());
  for (const Dim& d : shape) out.push_back(d.Evaluate(batch));
  return out;
}

SymShape FixedShape(const Shape& shape) {
  SymShape out;
  out.reserve(shape.size());
  for (int64_t d : shape) out.push_back(Dim::Fixed(d));
  return out;
}

std::string SymShapeToString(const SymShape& shape) {
  return absl::StrCat(
      "[",
      absl::StrJoin(shape, ", ", [](std::string* out, const Dim& d) { out->append(d.ToString()); }),
      "]");
}

StatusOr<Dim> SymProduct(const SymShape& shape, int begin, int end) {
  Dim product = Dim::Fixed(1);
  for (int i = begin; i < end; ++i) {
    ASSIGN_OR_RETURN(product, MulDims(product, shape[i]));
  }
  return product;
}

StatusOr<Dim> SymNumElements(const SymShape& shape) {
  return SymProduct(shape, 0, static_cast<int>(shape.size()));
}

StatusOr<SymShape> BroadcastShapes(const SymShape& a, const SymShape& b) {
  const size_t rank = std::max(a.size(), b.size());
  SymShape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right; missing leading dims act as 1.
    const Dim da = i < rank - a.size() ? Dim::Fixed(1) : a[i - (rank - a.size())];
    const Dim db = i < rank - b.size() ? Dim::Fixed(1) : b[i - (rank - b.size())];
    if (da == db || db == Dim::Fixed(1)) {
      out[i] = da;
    } else if (da == Dim::Fixed(1)) {
      out[i] = db;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("shapes ", SymShapeToString(a), " and ",
                                                     SymShapeToString(b), " do not broadcast"));
    }
  }
  return out;
}

StatusOr<int> NormalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("axis ", axis, " is out of range for rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

StatusOr<std::vector<int>> NormalizeAxes(absl::Span<const int64_t> axes, int rank) {
  std::vector<int> out;
  std::vector<bool> seen(std::max(rank, 0), false);
  for (int64_t axis : axes) {
    ASSIGN_OR_RETURN(int a, NormalizeAxis(axis, rank));
    if (seen[a]) return absl::InvalidArgumentError(absl::StrCat("axis ", axis, " is repeated"));
    seen[a] = true;
    out.push_back(a);
  }
  return out;
}

}  // namespace servekit
