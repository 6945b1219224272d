#include "servekit/server/rest/json_request.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"
#include "servekit/engine/dim.h"
#include "servekit/server/rest/numeric_body_reader.h"
#include "servekit/util/json_document.h"
#include "servekit/util/json_writer.h"

// {"b64": ...} carries raw tensor bytes, which are little-endian on the wire.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "b64 tensor data is copied as host-order bytes");

namespace servekit {
namespace {

using JsonValue = rapidjson::Value;

constexpr char kBase64Key[] = "b64";
// Request strings quoted in messages (unknown keys) are cut to this many bytes.
constexpr size_t kMaxQuotedBytes = 64;

std::string Quoted(absl::string_view text) {
  if (text.size() <= kMaxQuotedBytes) return JsonQuote(text);
  return absl::StrCat(JsonQuote(text.substr(0, kMaxQuotedBytes)), "...");
}

bool IsBase64Object(const JsonValue& v) {
  return v.IsObject() && v.MemberCount() == 1 && v.MemberBegin()->name == kBase64Key &&
         v.MemberBegin()->value.IsString();
}

// An object naming inputs, as opposed to a value ({"b64": ...} is a value).
bool IsNamedObject(const JsonValue& v) { return v.IsObject() && !IsBase64Object(v); }

absl::string_view NameOf(const JsonValue::Member& member) {
  return absl::string_view(member.name.GetString(), member.name.GetStringLength());
}

// A short description of a JSON value for messages; never walks into it.
std::string Describe(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
      return "false";
    case rapidjson::kTrueType:
      return "true";
    case rapidjson::kStringType:
      return Quoted(absl::string_view(v.GetString(), v.GetStringLength()));
    case rapidjson::kArrayType:
      return absl::StrCat("a list of ", v.Size());
    case rapidjson::kObjectType:
      return IsBase64Object(v) ? "a {\"b64\": ...} object" : "an object";
    case rapidjson::kNumberType:
      break;
  }
  if (v.IsInt64()) return absl::StrCat(v.GetInt64());
  if (v.IsUint64()) return absl::StrCat(v.GetUint64());
  std::string text;
  JsonWriter(&text).Double(v.GetDouble());
  return text;
}

Status ParseBody(absl::string_view body, rapidjson::Document* doc) {
  RETURN_IF_ERROR(ParseJsonDocument(body, doc));
  if (!doc->IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object; got ", Describe(*doc)));
  }
  return absl::OkStatus();
}

// Finds the body's top-level members named in `keys` (found[i] for keys[i], or
// null); any other key, or a key given twice, is an error.
template <size_t K>
Status ReadTopLevel(const JsonValue& body, const absl::string_view (&keys)[K],
                    const JsonValue* (&found)[K]) {
  for (const JsonValue*& f : found) f = nullptr;
  for (auto m = body.MemberBegin(); m != body.MemberEnd(); ++m) {
    const absl::string_view name = NameOf(*m);
    size_t k = 0;
    while (k < K && keys[k] != name) ++k;
    if (k == K) {
      std::string expected;
      for (size_t i = 0; i < K; ++i) absl::StrAppend(&expected, i ? ", '" : "'", keys[i], "'");
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown key ", Quoted(name), " in the request body; the known keys are ", expected));
    }
    if (found[k] != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the request body has the key '", name, "' twice"));
    }
    found[k] = &m->value;
  }
  return absl::OkStatus();
}

Status ReadSignatureName(const JsonValue* value, std::string* signature_name) {
  if (value == nullptr) return absl::OkStatus();
  if (!value->IsString()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'signature_name' must be a string; got ", Describe(*value)));
  }
  signature_name->assign(value->GetString(), value->GetStringLength());
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Where a value sits in the body, for messages: instances[3], instances[3].x,
// inputs, inputs.x, examples[0].age, context.age.
struct Location {
  absl::string_view container;
  int64_t item = -1;      // index in the container's list; -1 when the container is not a list
  absl::string_view key;  // the input's name when the value is a member of an object

  std::string ToString() const {
    std::string text(container);
    if (item >= 0) absl::StrAppend(&text, "[", item, "]");
    if (!key.empty()) absl::StrAppend(&text, ".", key);
    return text;
  }
};

std::string InputNames(absl::Span<const TensorSpec> inputs) {
  return absl::StrJoin(inputs, ", ", [](std::string* out, const TensorSpec& spec) {
    absl::StrAppend(out, "'", spec.name, "'");
  });
}

std::string DimsToString(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

int FindInput(absl::Span<const TensorSpec> inputs, absl::string_view name) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// JSON values into tensor elements

// Doubles at or beyond this magnitude round to infinity as float32 (the midpoint
// between FLT_MAX and 2^128); smaller ones, like FLT_MAX printed in 9 digits, fit.
constexpr double kFloat32Overflow = 0x1.ffffffp+127;

template <typename T>
bool ConvertElement(const JsonValue& v, T* out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.IsBool()) return false;
    *out = v.GetBool();
  } else if constexpr (std::is_same_v<T, float>) {
    if (!v.IsNumber()) return false;
    const double d = v.GetDouble();
    if (std::isfinite(d) && !(std::fabs(d) < kFloat32Overflow)) return false;
    *out = static_cast<float>(d);
  } else if constexpr (std::is_same_v<T, double>) {
    if (!v.IsNumber()) return false;
    *out = v.GetDouble();
  } else {
    if (!v.IsInt64()) return false;
    const int64_t i = v.GetInt64();
    if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        i > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      return false;
    }
    *out = static_cast<T>(i);
  }
  return true;
}

template <typename T>
std::string ExpectedElements() {
  if constexpr (std::is_same_v<T, bool>) {
    return "true or false";
  } else if constexpr (std::is_floating_point_v<T>) {
    return absl::StrCat(DTypeName(DTypeOf<T>()), " numbers");
  } else {
    return absl::StrCat(DTypeName(DTypeOf<T>()), " integers in [",
                        static_cast<int64_t>(std::numeric_limits<T>::min()), ", ",
                        static_cast<int64_t>(std::numeric_limits<T>::max()), "]");
  }
}

// What one call of FillValue writes: `value` (found at `location`) holds a
// tensor of shape `dims` for input `spec`.
struct FillTarget {
  const TensorSpec* spec;
  absl::Span<const int64_t> dims;
  const Location* location;
  bool per_instance;  // dims are one instance's (row format), for messages
};

// Checks `root` against the target's shape while writing its elements in
// row-major order. Recursion is bounded by the rank: a list nested deeper is
// an error before it is entered.
template <typename T>
class ValueFiller {
 public:
  ValueFiller(const FillTarget& target, std::string* scratch)
      : target_(target),
        rank_(static_cast<int>(target.dims.size())),
        index_(rank_, 0),
        scratch_(scratch) {}

  Status Fill(const JsonValue& root, T* out) {
    root_ = &root;
    return FillLevel(root, 0, out);
  }

 private:
  Status FillLevel(const JsonValue& v, int level, T*& out) {
    if (level == rank_) {
      if (ConvertElement(v, out)) {
        ++out;
        return absl::OkStatus();
      }
      return FillOther(v, level, out);
    }
    if (!v.IsArray() || v.Size() != target_.dims[level]) return FillOther(v, level, out);
    if (level + 1 == rank_) {
      // The innermost lists hold nearly all the values: convert them in one loop.
      for (const JsonValue* e = v.Begin(); e != v.End(); ++e) {
        if (ConvertElement(*e, out)) {
          ++out;
          continue;
        }
        index_[level] = e - v.Begin();
        RETURN_IF_ERROR(FillOther(*e, level + 1, out));
      }
      return absl::OkStatus();
    }
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      index_[level] = i;
      RETURN_IF_ERROR(FillLevel(v[i], level + 1, out));
    }
    return absl::OkStatus();
  }

  // `v` at `level` is not what the fast path takes: a {"b64": ...} object or an error.
  Status FillOther(const JsonValue& v, int level, T*& out) {
    if (IsBase64Object(v)) return FillFromBase64(v, level, out);
    if (v.IsObject()) {
      return Error(level,
                   absl::StrCat("input '", target_.spec->name, "' got an object; the only object ",
                                "allowed in a value is {\"b64\": \"<base64>\"}"));
    }
    if (level < rank_ || v.IsArray()) return ShapeError(v, level);
    return Error(level, absl::StrCat("input '", target_.spec->name, "' expects ",
                                     ExpectedElements<T>(), "; got ", Describe(v)));
  }

  Status FillFromBase64(const JsonValue& v, int level, T*& out) {
    const absl::Span<const int64_t> sub_dims = target_.dims.subspan(level);
    int64_t elements = 1;
    for (int64_t d : sub_dims) elements *= d;
    const size_t bytes = static_cast<size_t>(elements) * sizeof(T);
    const JsonValue& text = v.MemberBegin()->value;
    const absl::string_view encoded(text.GetString(), text.GetStringLength());
    if (!absl::Base64Unescape(encoded, scratch_) &&
        !absl::WebSafeBase64Unescape(encoded, scratch_)) {
      return Error(level, absl::StrCat("the \"b64\" string for input '", target_.spec->name,
                                       "' is not valid base64"));
    }
    if (scratch_->size() != bytes) {
      return Error(
          level, absl::StrCat("input '", target_.spec->name, "' expects ", bytes, " bytes of ",
                              DTypeName(DTypeOf<T>()), " data here (shape ", DimsToString(sub_dims),
                              "); the \"b64\" string decodes to ", scratch_->size(), " bytes"));
    }
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < bytes; ++i) {
        const unsigned char byte = static_cast<unsigned char>((*scratch_)[i]);
        if (byte > 1) {
          return Error(level, absl::StrCat("bool data for input '", target_.spec->name,
                                           "' must be bytes 0 or 1; byte ", i,
                                           " of the \"b64\" data is ", static_cast<int>(byte)));
        }
      }
    }
    if (bytes > 0) std::memcpy(out, scratch_->data(), bytes);
    out += elements;
    return absl::OkStatus();
  }

  // `v`, at `level` below the root, does not have the target's shape.
  Status ShapeError(const JsonValue& v, int level) const {
    // The shape read along the first elements, one level past the rank at most.
    Shape seen;
    bool deeper = false;
    for (const JsonValue* p = root_; p->IsArray(); p = p->Begin()) {
      if (static_cast<int>(seen.size()) == rank_) {
        deeper = true;
        break;
      }
      seen.push_back(p->Size());
      if (p->Empty()) break;
    }
    const std::string expects =
        absl::StrCat("input '", target_.spec->name, "' expects ",
                     rank_ == 0 ? std::string("a single value")
                                : absl::StrCat("shape ", DimsToString(target_.dims)),
                     target_.per_instance ? " per instance" : "");
    if (deeper || absl::Span<const int64_t>(seen) != target_.dims) {
      std::string got;
      if (seen.empty()) {
        got = deeper ? Describe(*root_) : "a single value";
      } else {
        got = ShapeToString(seen);
        if (deeper) got.insert(got.size() - 1, ", ...");
      }
      return absl::InvalidArgumentError(
          absl::StrCat(target_.location->ToString(), ": ", expects, "; got ", got));
    }
    // The first elements have the right shape, so the lists are ragged further on.
    std::string detail;
    if (level == rank_) {
      detail = "is a list where a single value belongs";
    } else if (v.IsArray()) {
      detail = absl::StrCat("has ", v.Size(), v.Size() == 1 ? " element" : " elements", " where ",
                            target_.dims[level], target_.dims[level] == 1 ? " belongs" : " belong");
    } else {
      detail =
          absl::StrCat("is ", Describe(v), " where a list of ", target_.dims[level], " belongs");
    }
    return absl::InvalidArgumentError(absl::StrCat(target_.location->ToString(), ": ", expects,
                                                   ", but the lists are ragged: ", Path(level), " ",
                                                   detail));
  }

  Status Error(int level, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(Path(level), ": ", message));
  }

  // The location of the value at `level` on the current path: instances[3][1][0].
  std::string Path(int level) const {
    std::string path = target_.location->ToString();
    for (int d = 0; d < level; ++d) absl::StrAppend(&path, "[", index_[d], "]");
    return path;
  }

  const FillTarget& target_;
  const int rank_;
  Shape index_;  // index_[d]: position in the list at depth d of the value being filled
  std::string* scratch_;
  const JsonValue* root_ = nullptr;
};

// Writes `value` into `tensor` from element `offset` on (NumElements(target.dims) elements).
Status FillValue(const JsonValue& value, const FillTarget& target, Tensor& tensor, int64_t offset,
                 std::string* scratch) {
  switch (tensor.dtype()) {
    case DType::kFloat32:
      return ValueFiller<float>(target, scratch).Fill(value, tensor.data<float>() + offset);
    case DType::kFloat64:
      return ValueFiller<double>(target, scratch).Fill(value, tensor.data<double>() + offset);
    case DType::kInt64:
      return ValueFiller<int64_t>(target, scratch).Fill(value, tensor.data<int64_t>() + offset);
    case DType::kInt32:
      return ValueFiller<int32_t>(target, scratch).Fill(value, tensor.data<int32_t>() + offset);
    case DType::kInt8:
      return ValueFiller<int8_t>(target, scratch).Fill(value, tensor.data<int8_t>() + offset);
    case DType::kUInt8:
      return ValueFiller<uint8_t>(target, scratch).Fill(value, tensor.data<uint8_t>() + offset);
    case DType::kBool:
      return ValueFiller<bool>(target, scratch).Fill(value, tensor.data<bool>() + offset);
    case DType::kUndefined:
      break;
  }
  return absl::InternalError(
      absl::StrCat("input '", target.spec->name, "' has no supported dtype"));
}

// ---------------------------------------------------------------------------------------
// Shapes, limits, allocation

// Only the first dimension of a model input may depend on the batch size.
Status CheckSpec(const TensorSpec& spec) {
  if (spec.dtype == DType::kUndefined) {
    return absl::InternalError(absl::StrCat("input '", spec.name, "' has no supported dtype"));
  }
  for (size_t d = 1; d < spec.shape.size(); ++d) {
    if (!spec.shape[d].is_fixed()) {
      return absl::UnimplementedError(
          absl::StrCat("input '", spec.name, "' has shape ", SymShapeToString(spec.shape),
                       "; JSON requests support models whose inputs depend on the batch "
                       "size in their first dimension only"));
    }
  }
  return absl::OkStatus();
}

Status CheckElementLimit(absl::Span<const TensorSpec> inputs, absl::Span<const Shape> shapes,
                         int64_t max_elements) {
  const int64_t limit = std::max<int64_t>(max_elements, 0);
  int64_t total = 0;
  bool over = false;
  for (const Shape& shape : shapes) {
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d != 0 && n > limit / d) {
        over = true;
        break;
      }
      n *= d;
    }
    if (over || (total += n) > limit) {
      over = true;
      break;
    }
  }
  if (!over) return absl::OkStatus();
  std::string shapes_text;
  for (size_t i = 0; i < shapes.size(); ++i) {
    absl::StrAppend(&shapes_text, i ? ", " : "", "'", inputs[i].name, "' ",
                    ShapeToString(shapes[i]));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "the request holds more than ", limit,
      " values, the server's limit (--max_request_values; input shapes: ", shapes_text, ")"));
}

StatusOr<std::vector<Tensor>> AllocateInputs(absl::Span<const TensorSpec> inputs,
                                             absl::Span<const Shape> shapes, int64_t max_elements) {
  RETURN_IF_ERROR(CheckElementLimit(inputs, shapes, max_elements));
  std::vector<Tensor> tensors;
  tensors.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(inputs[i].dtype, shapes[i]));
    tensors.push_back(std::move(t));
  }
  return tensors;
}

int64_t NumElementsOf(absl::Span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------
// Row format: "instances", and "examples" for classify / regress

enum class RowSource { kInstances, kExamples };

// The depth of `v`'s first-element path, counting at most `limit` lists.
int FirstPathDepth(const JsonValue& v, int limit) {
  int depth = 0;
  for (const JsonValue* p = &v; p->IsArray() && depth < limit; p = p->Begin()) {
    ++depth;
    if (p->Empty()) break;
  }
  return depth;
}

class RowParser {
 public:
  RowParser(RowSource source, absl::Span<const TensorSpec> inputs)
      : source_(source),
        container_(source == RowSource::kInstances ? "instances" : "examples"),
        inputs_(inputs) {}

  StatusOr<std::vector<Tensor>> Parse(const JsonValue& rows, const JsonValue* context,
                                      int64_t max_elements) {
    if (!rows.IsArray()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", container_, "' must be a list; got ", Describe(rows)));
    }
    if (rows.Empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", container_, "' is an empty list; send at least one"));
    }
    const int64_t num_rows = rows.Size();
    std::vector<Shape> shapes;
    shapes.reserve(inputs_.size());
    for (const TensorSpec& spec : inputs_) {
      RETURN_IF_ERROR(CheckSpec(spec));
      if (spec.shape.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", spec.name, "' is a scalar (shape []), which '", container_,
                         "' cannot batch; send it in the columnar format ('inputs')"));
      }
      const Dim first = spec.shape[0];
      if ((first.is_fixed() && first.value() != num_rows) ||
          (!first.is_fixed() && num_rows % first.value() != 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", container_, "' has ", num_rows, " entries, but input '", spec.name, "' has shape ",
            SymShapeToString(spec.shape), ", so it takes ", first.ToString(), " rows"));
      }
      Shape shape = Evaluate(spec.shape, 0);
      shape[0] = num_rows;
      shapes.push_back(std::move(shape));
    }
    ASSIGN_OR_RETURN(tensors_, AllocateInputs(inputs_, shapes, max_elements));
    row_dims_.clear();
    for (const Shape& shape : shapes) row_dims_.emplace_back(shape.begin() + 1, shape.end());
    for (int64_t r = 0; r < num_rows; ++r) {
      const JsonValue& row = rows[static_cast<rapidjson::SizeType>(r)];
      RETURN_IF_ERROR(source_ == RowSource::kInstances ? FillInstance(row, r)
                                                       : FillExample(row, context, r));
    }
    return std::move(tensors_);
  }

 private:
  Status FillInstance(const JsonValue& row, int64_t r) {
    if (!IsNamedObject(row)) {
      if (inputs_.size() > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "instances[", r, "]: the model has ", inputs_.size(), " inputs (", InputNames(inputs_),
            "), so each instance must be an object naming them; got ", Describe(row)));
      }
      return FillRow(0, row, Location{container_, r, {}}, r, /*flat_allowed=*/false);
    }
    absl::InlinedVector<bool, 8> seen(inputs_.size(), false);
    for (auto m = row.MemberBegin(); m != row.MemberEnd(); ++m) {
      const int i = FindInput(inputs_, NameOf(*m));
      if (i < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "instances[", r, "] names ", Quoted(NameOf(*m)),
            ", which is not an input of the model; its inputs are ", InputNames(inputs_)));
      }
      if (seen[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("instances[", r, "] names input '", inputs_[i].name, "' twice"));
      }
      seen[i] = true;
      RETURN_IF_ERROR(FillRow(i, m->value, Location{container_, r, inputs_[i].name}, r,
                              /*flat_allowed=*/false));
    }
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (!seen[i]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "instances[", r, "] is missing input '", inputs_[i].name,
            "'; each instance must name all of the model's inputs (", InputNames(inputs_), ")"));
      }
    }
    return absl::OkStatus();
  }

  // Features the model does not take are ignored, as TensorFlow's example
  // parsing ignores them; an example's own feature wins over the context's.
  Status FillExample(const JsonValue& row, const JsonValue* context, int64_t r) {
    if (!row.IsObject()) {
      return absl::InvalidArgumentError(
          absl::StrCat("examples[", r, "] must be an object mapping feature names to values; got ",
                       Describe(row)));
    }
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const std::string& name = inputs_[i].name;
      auto m = row.FindMember(rapidjson::StringRef(name.data(), name.size()));
      if (m != row.MemberEnd()) {
        RETURN_IF_ERROR(
            FillRow(i, m->value, Location{container_, r, name}, r, /*flat_allowed=*/true));
        continue;
      }
      if (context != nullptr) {
        m = context->FindMember(rapidjson::StringRef(name.data(), name.size()));
        if (m != context->MemberEnd()) {
          RETURN_IF_ERROR(
              FillRow(i, m->value, Location{"context", -1, name}, r, /*flat_allowed=*/true));
          continue;
        }
      }
      return absl::InvalidArgumentError(
          absl::StrCat("examples[", r, "] is missing feature '", name,
                       "' (neither the example nor the context has it); the model's "
                       "inputs are ",
                       InputNames(inputs_)));
    }
    return absl::OkStatus();
  }

  // Fills row `r` of input `i`. A tf.Example feature is a flat list, so an
  // example may give a multi-dimensional row as its flat list of values (or a
  // single value for a row of one).
  Status FillRow(size_t i, const JsonValue& value, const Location& location, int64_t r,
                 bool flat_allowed) {
    const Shape& dims = row_dims_[i];
    const int64_t row_elements = NumElementsOf(dims);
    absl::InlinedVector<int64_t, 1> flat_dims;
    absl::Span<const int64_t> fill_dims = dims;
    if (flat_allowed && !value.IsObject()) {
      const int depth = FirstPathDepth(value, 2);
      if (depth != static_cast<int>(dims.size()) && depth <= 1) {
        if (depth == 1) flat_dims.push_back(row_elements);
        if (depth == 1 || row_elements == 1) fill_dims = flat_dims;
      }
    }
    const FillTarget target{&inputs_[i], fill_dims, &location, /*per_instance=*/true};
    return FillValue(value, target, tensors_[i], r * row_elements, &scratch_);
  }

  const RowSource source_;
  const absl::string_view container_;
  const absl::Span<const TensorSpec> inputs_;
  std::vector<Tensor> tensors_;
  std::vector<Shape> row_dims_;  // per input: the shape of one row
  std::string scratch_;          // base64 decoding, reused
};

// ---------------------------------------------------------------------------------------
// Columnar format: "inputs"

StatusOr<std::vector<Tensor>> ParseColumns(const JsonValue& value,
                                           absl::Span<const TensorSpec> inputs,
                                           int64_t max_elements) {
  absl::InlinedVector<const JsonValue*, 8> values(inputs.size(), nullptr);
  absl::InlinedVector<Location, 8> locations(inputs.size(), Location{"inputs", -1, {}});
  if (IsNamedObject(value)) {
    for (auto m = value.MemberBegin(); m != value.MemberEnd(); ++m) {
      const int i = FindInput(inputs, NameOf(*m));
      if (i < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'inputs' names ", Quoted(NameOf(*m)),
            ", which is not an input of the model; its inputs are ", InputNames(inputs)));
      }
      if (values[i] != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("'inputs' names input '", inputs[i].name, "' twice"));
      }
      values[i] = &m->value;
      locations[i].key = inputs[i].name;
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (values[i] == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("'inputs' is missing input '", inputs[i].name,
                         "'; it must name all of the model's inputs (", InputNames(inputs), ")"));
      }
    }
  } else if (inputs.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model has ", inputs.size(), " inputs (", InputNames(inputs),
                     "), so 'inputs' must be an object naming them; got ", Describe(value)));
  } else {
    values[0] = &value;
  }

  // The batch size comes from the values; the spec fixes every other dimension.
  std::vector<Shape> shapes;
  shapes.reserve(inputs.size());
  std::string scratch;
  int64_t batch = -1;
  size_t batch_input = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = inputs[i];
    RETURN_IF_ERROR(CheckSpec(spec));
    Shape shape = Evaluate(spec.shape, 0);
    if (!spec.shape.empty() && !spec.shape[0].is_fixed()) {
      const JsonValue& v = *values[i];
      int64_t rows;
      if (v.IsArray()) {
        rows = v.Size();
      } else if (IsBase64Object(v)) {
        const int64_t row_bytes =
            NumElementsOf(absl::Span<const int64_t>(shape).subspan(1)) * DTypeSize(spec.dtype);
        const JsonValue& text = v.MemberBegin()->value;
        const absl::string_view encoded(text.GetString(), text.GetStringLength());
        if (!absl::Base64Unescape(encoded, &scratch) &&
            !absl::WebSafeBase64Unescape(encoded, &scratch)) {
          return absl::InvalidArgumentError(absl::StrCat(locations[i].ToString(),
                                                         ": the \"b64\" string for input '",
                                                         spec.name, "' is not valid base64"));
        }
        if (row_bytes == 0 || scratch.size() % row_bytes != 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              locations[i].ToString(), ": input '", spec.name, "' has shape ",
              SymShapeToString(spec.shape), ", so its \"b64\" data must be a whole number of ",
              row_bytes, "-byte rows; it decodes to ", scratch.size(), " bytes"));
        }
        rows = static_cast<int64_t>(scratch.size()) / row_bytes;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(locations[i].ToString(), ": input '", spec.name, "' expects shape ",
                         SymShapeToString(spec.shape), " (N = batch size); got ", Describe(v)));
      }
      const int64_t factor = spec.shape[0].value();
      if (rows % factor != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            locations[i].ToString(), ": input '", spec.name, "' has shape ",
            SymShapeToString(spec.shape), "; ", rows, " rows is not a multiple of ", factor));
      }
      if (batch >= 0 && rows / factor != batch) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the inputs disagree on the batch size: input '", inputs[batch_input].name,
            "' has batch size ", batch, " and input '", spec.name, "' has ", rows / factor));
      }
      if (batch < 0) batch_input = i;
      batch = rows / factor;
      shape[0] = rows;
    }
    shapes.push_back(std::move(shape));
  }
  if (batch == 0) {
    return absl::InvalidArgumentError(absl::StrCat("'inputs' holds an empty batch (input '",
                                                   inputs[batch_input].name, "' has no rows)"));
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> tensors, AllocateInputs(inputs, shapes, max_elements));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const FillTarget target{&inputs[i], shapes[i], &locations[i], /*per_instance=*/false};
    RETURN_IF_ERROR(FillValue(*values[i], target, tensors[i], 0, &scratch));
  }
  return tensors;
}

}  // namespace

// ---------------------------------------------------------------------------------------

StatusOr<JsonPredictRequest> ParsePredictDocument(absl::string_view body,
                                                  absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements) {
  rapidjson::Document doc;
  RETURN_IF_ERROR(ParseBody(body, &doc));
  static constexpr absl::string_view kKeys[] = {"signature_name", "instances", "inputs"};
  const JsonValue* found[3];
  RETURN_IF_ERROR(ReadTopLevel(doc, kKeys, found));
  const JsonValue* instances = found[1];
  const JsonValue* columns = found[2];
  JsonPredictRequest request;
  RETURN_IF_ERROR(ReadSignatureName(found[0], &request.signature_name));
  if (instances != nullptr && columns != nullptr) {
    return absl::InvalidArgumentError(
        "the request body has both 'instances' (row format) and 'inputs' (columnar format); send "
        "exactly one");
  }
  if (instances == nullptr && columns == nullptr) {
    return absl::InvalidArgumentError(
        "the request body has neither 'instances' (row format) nor 'inputs' (columnar format); "
        "send exactly one");
  }
  if (inputs.empty()) return absl::InvalidArgumentError("the model takes no inputs");
  request.row_format = instances != nullptr;
  if (request.row_format) {
    ASSIGN_OR_RETURN(
        request.inputs,
        RowParser(RowSource::kInstances, inputs).Parse(*instances, nullptr, max_elements));
  } else {
    ASSIGN_OR_RETURN(request.inputs, ParseColumns(*columns, inputs, max_elements));
  }
  return request;
}

std::string ReadBodySignatureName(absl::string_view body) {
  rapidjson::Document doc;
  if (!ParseBody(body, &doc).ok() || !doc.IsObject()) return std::string();
  auto member = doc.FindMember("signature_name");
  if (member == doc.MemberEnd() || !member->value.IsString()) return std::string();
  return std::string(member->value.GetString(), member->value.GetStringLength());
}

StatusOr<JsonPredictRequest> ParsePredictRequest(absl::string_view body,
                                                 absl::Span<const TensorSpec> inputs,
                                                 int64_t max_elements) {
  if (std::optional<JsonPredictRequest> read = ReadNumericPredictBody(body, inputs, max_elements)) {
    return *std::move(read);
  }
  return ParsePredictDocument(body, inputs, max_elements);
}

StatusOr<JsonPredictRequest> ParseExamplesRequest(absl::string_view body,
                                                  absl::Span<const TensorSpec> inputs,
                                                  int64_t max_elements) {
  rapidjson::Document doc;
  RETURN_IF_ERROR(ParseBody(body, &doc));
  static constexpr absl::string_view kKeys[] = {"signature_name", "context", "examples"};
  const JsonValue* found[3];
  RETURN_IF_ERROR(ReadTopLevel(doc, kKeys, found));
  const JsonValue* context = found[1];
  const JsonValue* examples = found[2];
  JsonPredictRequest request;
  RETURN_IF_ERROR(ReadSignatureName(found[0], &request.signature_name));
  if (examples == nullptr)
    return absl::InvalidArgumentError("the request body has no 'examples' list");
  if (context != nullptr && !context->IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'context' must be an object mapping feature names to values; got ", Describe(*context)));
  }
  if (inputs.empty()) return absl::InvalidArgumentError("the model takes no inputs");
  ASSIGN_OR_RETURN(request.inputs,
                   RowParser(RowSource::kExamples, inputs).Parse(*examples, context, max_elements));
  return request;
}

}  // namespace servekit
