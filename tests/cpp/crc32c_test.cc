// CRC-32C (util/crc32c.h): published check values, incremental use, masking,
// and the hardware path against a bit-at-a-time reference on every length and
// alignment that the word loops treat differently.
#include "servekit/util/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace servekit {
namespace {

// The definition: one bit at a time, reflected Castagnoli polynomial.
uint32_t ReferenceCrc(const uint8_t* p, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= p[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82f63b78u : 0);
  }
  return ~crc;
}

TEST(Crc32cTest, PublishedCheckValues) {
  EXPECT_EQ(crc32c::Value("123456789", 9), 0xe3069283u);  // the CRC catalogue's check value
  // RFC 3720 (iSCSI), appendix B.4.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c::Value(zeros.data(), 32), 0x8a9136aau);
  EXPECT_EQ(crc32c::Value(ones.data(), 32), 0x62a8ab43u);
  EXPECT_EQ(crc32c::Value(ascending.data(), 32), 0x46dd794eu);
  EXPECT_EQ(crc32c::Value(descending.data(), 32), 0x113fdb5cu);
  EXPECT_EQ(crc32c::Value("", 0), 0u);
}

TEST(Crc32cTest, MatchesReferenceOnEveryLengthAndAlignment) {
  std::vector<uint8_t> buffer(300);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 131 + 7);
  for (size_t start = 0; start < 9; ++start) {
    for (size_t size = 0; start + size <= buffer.size(); size += (size < 40 ? 1 : 37)) {
      ASSERT_EQ(crc32c::Value(buffer.data() + start, size),
                ReferenceCrc(buffer.data() + start, size))
          << "start " << start << " size " << size;
    }
  }
}

// Long data runs as three interleaved streams joined by table (blocks of 4096,
// then of 256 bytes): every length around those rounds' edges, at odd starts,
// and a continuation from a non-zero CRC.
TEST(Crc32cTest, InterleavedStreamsMatchReference) {
  std::vector<uint8_t> buffer(3 * 4096 * 3 + 3 * 256 * 2 + 64);
  for (size_t i = 0; i < buffer.size(); ++i)
    buffer[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::vector<size_t> sizes;
  for (size_t edge : {size_t{3 * 256}, size_t{3 * 4096}, size_t{2 * 3 * 4096},
                      size_t{3 * 4096 + 3 * 256}, size_t{3 * 4096 * 3 + 3 * 256 * 2}}) {
    for (size_t delta = 0; delta <= 17; ++delta) {
      sizes.push_back(edge - 9 + delta);
    }
  }
  for (size_t start : {size_t{0}, size_t{1}, size_t{7}}) {
    for (size_t size : sizes) {
      ASSERT_LE(start + size, buffer.size());
      ASSERT_EQ(crc32c::Value(buffer.data() + start, size),
                ReferenceCrc(buffer.data() + start, size))
          << "start " << start << " size " << size;
    }
  }
  const size_t split = 1001;
  const uint32_t head = crc32c::Value(buffer.data(), split);
  EXPECT_EQ(crc32c::Extend(head, buffer.data() + split, buffer.size() - split),
            ReferenceCrc(buffer.data(), buffer.size()));
}

TEST(Crc32cTest, ExtendEqualsOneCall) {
  const std::string data = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = crc32c::Value(data.data(), split);
    EXPECT_EQ(crc32c::Extend(first, data.data() + split, data.size() - split),
              crc32c::Value(data.data(), data.size()));
  }
}

TEST(Crc32cTest, MaskIsReversibleAndChangesTheValue) {
  for (uint32_t crc : {0u, 1u, 0xe3069283u, 0xffffffffu, 0x80000000u}) {
    EXPECT_EQ(crc32c::Unmask(crc32c::Mask(crc)), crc);
    EXPECT_NE(crc32c::Mask(crc), crc);
    EXPECT_NE(crc32c::Mask(crc32c::Mask(crc)), crc);
  }
}

}  // namespace
}  // namespace servekit
