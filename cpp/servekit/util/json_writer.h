// JsonWriter: appends JSON text to a string, placing commas itself.
//
// Floats are written in their shortest round-trip form (std::to_chars), with a
// ".0" added to whole numbers so that clients read them back as floats; NaN
// and the infinities become the bare tokens NaN, Infinity and -Infinity, as
// TensorFlow Serving writes them. Strings are escaped; bytes that are not valid
// UTF-8 become U+FFFD, so the output is always valid UTF-8.
//
// The writer does not check nesting: callers pair Begin/End and put a Key
// before each object member.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace servekit {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  JsonWriter& Key(absl::string_view key);

  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  JsonWriter& Float(float value);
  JsonWriter& Double(double value);
  // A value that is already JSON text.
  JsonWriter& Raw(absl::string_view json);

 private:
  JsonWriter& Open(char bracket);
  JsonWriter& Close(char bracket);
  void Separate() {
    if (need_comma_) out_->push_back(',');
  }

  std::string* out_;
  bool need_comma_ = false;  // a value was just completed at this level
};

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

}  // namespace servekit
