#include "servekit/util/protobuf_wire.h"

#include "servekit/util/varint.h"

namespace servekit {
namespace {

// Groups nest; protobuf's parser stops at 100 levels of nesting, and so does this.
constexpr int kMaxGroupDepth = 100;

bool Skip(absl::string_view* in, uint64_t bytes) {
  if (bytes > in->size()) return false;
  in->remove_prefix(bytes);
  return true;
}

// Reads one field's tag and body from `*in`. An end-group tag sets
// *end_group to its field number and reads nothing more.
bool ReadField(absl::string_view* in, int group_depth, WireField* field, uint32_t* end_group) {
  const absl::string_view start = *in;
  // A tag is read as protobuf reads one: at most 5 bytes, bits past the 32nd
  // dropped.
  uint64_t wide_tag = 0;
  if (!ReadVarint(in, 5, &wide_tag)) return false;
  const uint32_t tag = static_cast<uint32_t>(wide_tag);
  const uint64_t number = tag >> 3;
  if (number == 0) return false;
  field->number = static_cast<uint32_t>(number);
  field->payload = absl::string_view();
  switch (tag & 7) {
    case 0: {
      uint64_t ignored = 0;
      if (!ReadVarint(in, 10, &ignored)) return false;
      field->type = WireType::kVarint;
      break;
    }
    case 1:
      if (!Skip(in, 8)) return false;
      field->type = WireType::kFixed64;
      break;
    case 2: {
      uint64_t length = 0;
      if (!ReadVarint(in, 10, &length) || length > in->size()) return false;
      field->payload = in->substr(0, length);
      in->remove_prefix(length);
      field->type = WireType::kLengthDelimited;
      break;
    }
    case 3: {
      if (group_depth >= kMaxGroupDepth) return false;
      while (true) {  // the group's fields, up to the end tag of the same number
        WireField inner;
        uint32_t inner_end = 0;
        if (in->empty() || !ReadField(in, group_depth + 1, &inner, &inner_end)) return false;
        if (inner_end != 0) {
          if (inner_end != field->number) return false;
          break;
        }
      }
      field->type = WireType::kStartGroup;
      break;
    }
    case 4:
      *end_group = field->number;
      return group_depth > 0;
    case 5:
      if (!Skip(in, 4)) return false;
      field->type = WireType::kFixed32;
      break;
    default:
      return false;
  }
  field->encoded = start.substr(0, start.size() - in->size());
  return true;
}

}  // namespace

bool ForEachWireField(absl::string_view message, absl::FunctionRef<void(const WireField&)> visit) {
  while (!message.empty()) {
    WireField field;
    uint32_t end_group = 0;
    if (!ReadField(&message, 0, &field, &end_group)) return false;
    visit(field);
  }
  return true;
}

void AppendLengthDelimitedField(uint32_t number, absl::string_view payload, std::string* out) {
  auto append_varint = [out](uint64_t value) {
    while (value >= 0x80) {
      out->push_back(static_cast<char>(value | 0x80));
      value >>= 7;
    }
    out->push_back(static_cast<char>(value));
  };
  append_varint((uint64_t{number} << 3) | 2);
  append_varint(payload.size());
  out->append(payload.data(), payload.size());
}

}  // namespace servekit
