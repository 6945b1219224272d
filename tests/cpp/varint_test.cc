// util/varint.h: ReadVarint (its inline one-byte path and the out-of-line
// rest) against a bit-at-a-time reading of its contract.
#include "servekit/util/varint.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace servekit {
namespace {

// A bit-at-a-time reading of the contract in varint.h: at most `max_bytes`
// bytes, bits past the 64th dropped, `*in` untouched on failure.
bool ReferenceVarint(absl::string_view* in, int max_bytes, uint64_t* value) {
  uint64_t result = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (i >= static_cast<int>(in->size())) return false;
    const uint8_t byte = static_cast<uint8_t>((*in)[i]);
    for (int bit = 0; bit < 7; ++bit) {
      const int at = 7 * i + bit;
      if (at < 64 && ((byte >> bit) & 1)) result |= uint64_t{1} << at;
    }
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *value = result;
      return true;
    }
  }
  return false;
}

TEST(VarintTest, ReadVarintMatchesAReferenceOnEveryLengthAndLimit) {
  // Every length from empty to 12 bytes, ending in a small or a large final
  // byte or cut off, read with every limit from 0 to 11.
  std::vector<std::string> inputs;
  for (int continued = 0; continued <= 11; ++continued) {
    for (const char last : {'\x00', '\x01', '\x7f'}) {
      std::string bytes(continued, '\xff');
      inputs.push_back(bytes);  // cut off before its last byte
      bytes.push_back(last);
      inputs.push_back(bytes);
      inputs.push_back(bytes + "\x05tail");
    }
  }
  inputs.push_back(std::string("\x96\x01", 2));              // 150
  inputs.push_back(std::string("\x80\x80\x80\x80\x10", 5));  // 2^32
  for (const std::string& input : inputs) {
    for (int limit = 0; limit <= 11; ++limit) {
      absl::string_view got_in(input), want_in(input);
      uint64_t got = 7, want = 7;
      const bool got_ok = ReadVarint(&got_in, limit, &got);
      const bool want_ok = ReferenceVarint(&want_in, limit, &want);
      const std::string where = absl::StrCat("input size ", input.size(), ", limit ", limit);
      ASSERT_EQ(got_ok, want_ok) << where;
      EXPECT_EQ(got_in.size(), want_in.size()) << where;
      if (want_ok) {
        EXPECT_EQ(got, want) << where;
      } else {
        EXPECT_EQ(got, 7u) << where << ": the value is left alone on failure";
      }
    }
  }
  absl::string_view two_fifty = "\x96\x01";
  uint64_t value = 0;
  ASSERT_TRUE(ReadVarint(&two_fifty, 10, &value));
  EXPECT_EQ(value, 150u);
}

}  // namespace
}  // namespace servekit
