// Protobuf's wire format read field by field, without a schema: for splitting
// a serialized message into parts that are parsed separately, or never.
//
// ForEachWireField walks the fields of one message level in order. It accepts
// exactly what a protobuf parser accepts at that level: varint, fixed64,
// length-delimited and fixed32 fields and (deprecated, but legal for unknown
// fields) groups; it returns false for anything else: a truncated field, a
// tag of more than 5 bytes or a varint of more than 10, field number 0, wire
// types 6 and 7, an end-group tag without its start. Like protobuf, it keeps
// a tag's low 32 bits. It does not look inside
// length-delimited payloads. Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace servekit {

enum class WireType : int {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kFixed32 = 5,
};

struct WireField {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  absl::string_view encoded;  // the whole field as it appeared: tag, length, payload
  absl::string_view payload;  // kLengthDelimited: the bytes after the length; else empty
};

// Calls `visit` for each field of `message`; false (after visiting the fields
// before it) when the bytes are not a well-formed sequence of fields.
bool ForEachWireField(absl::string_view message, absl::FunctionRef<void(const WireField&)> visit);

// Appends field `number` as a length-delimited field holding `payload`.
void AppendLengthDelimitedField(uint32_t number, absl::string_view payload, std::string* out);

}  // namespace servekit
