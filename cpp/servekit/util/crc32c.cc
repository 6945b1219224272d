#include "servekit/util/crc32c.h"

#include <array>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

// The word-at-a-time loop below reads bytes in little-endian order.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "crc32c.cc assumes a little-endian host");

namespace servekit {
namespace crc32c {
namespace {

// The reflected Castagnoli polynomial.
constexpr uint32_t kPolynomial = 0x82f63b78u;

// Slicing by 8: table[k][b] is the CRC of byte b followed by k zero bytes, so
// eight bytes are folded in with eight lookups instead of eight shifts each.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomial : 0);
    t[0][b] = crc;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

uint32_t ExtendPortable(uint32_t crc, const uint8_t* p, size_t size) {
  crc = ~crc;
  while (size >= 8) {
    uint32_t low;
    uint32_t high;
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + 4, 4);
    low ^= crc;
    crc = kTables[7][low & 0xff] ^ kTables[6][(low >> 8) & 0xff] ^ kTables[5][(low >> 16) & 0xff] ^
          kTables[4][low >> 24] ^ kTables[3][high & 0xff] ^ kTables[2][(high >> 8) & 0xff] ^
          kTables[1][(high >> 16) & 0xff] ^ kTables[0][high >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

#if defined(__x86_64__)
// One crc32 instruction takes three cycles to give its result but the CPU can
// start one every cycle, so a single chain of them runs at a third of the
// speed: long data is cut into three adjacent blocks whose CRCs are computed at
// once and then joined.
//
// Joining rests on the CRC register being linear: running it from state s over
// bytes B gives Run(s, B) = Run(s, |B| zero bytes) ^ Run(0, B). So after blocks
// A, B, C of n bytes each, the state is
//   Shift(Shift(a, n) ^ b, n) ^ c,   a = Run(s, A), b = Run(0, B), c = Run(0, C),
// where Shift(x, n) = Run(x, n zero bytes), a linear map of x: its tables hold
// Shift of every byte value in each of the four byte positions.
class ZeroShift {
 public:
  explicit ZeroShift(size_t bytes);
  uint32_t operator()(uint32_t state) const {
    return table_[0][state & 0xff] ^ table_[1][(state >> 8) & 0xff] ^
           table_[2][(state >> 16) & 0xff] ^ table_[3][state >> 24];
  }

 private:
  std::array<std::array<uint32_t, 256>, 4> table_;
};

__attribute__((target("sse4.2"))) uint32_t RunSse42(uint32_t state, const uint8_t* p, size_t size) {
  uint64_t state64 = state;
  for (; size >= 8; p += 8, size -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    state64 = _mm_crc32_u64(state64, word);
  }
  state = static_cast<uint32_t>(state64);
  for (; size > 0; ++p, --size) state = _mm_crc32_u8(state, *p);
  return state;
}

ZeroShift::ZeroShift(size_t bytes) {
  // The image of each single bit, then of each byte value as the sum of its bits'.
  const std::vector<uint8_t> zeros(bytes, 0);
  std::array<uint32_t, 32> bit_image;
  for (int bit = 0; bit < 32; ++bit)
    bit_image[bit] = RunSse42(uint32_t{1} << bit, zeros.data(), bytes);
  for (int position = 0; position < 4; ++position) {
    for (uint32_t value = 0; value < 256; ++value) {
      uint32_t image = 0;
      for (int bit = 0; bit < 8; ++bit) {
        if (value & (1u << bit)) image ^= bit_image[position * 8 + bit];
      }
      table_[position][value] = image;
    }
  }
}

// Three streams of `block` bytes each per round: long enough that the join
// (eight table reads) costs little beside the block, short enough that data
// of a few blocks' size gets the speed too.
constexpr size_t kLongBlock = 4096;
constexpr size_t kShortBlock = 256;

__attribute__((target("sse4.2"))) uint32_t RunThreeStreams(uint32_t state, const uint8_t** p,
                                                           size_t* size, size_t block,
                                                           const ZeroShift& shift) {
  while (*size >= 3 * block) {
    const uint8_t* a = *p;
    const uint8_t* b = a + block;
    const uint8_t* c = b + block;
    uint64_t sa = state, sb = 0, sc = 0;
    for (size_t i = 0; i < block; i += 8) {
      uint64_t wa, wb, wc;
      std::memcpy(&wa, a + i, 8);
      std::memcpy(&wb, b + i, 8);
      std::memcpy(&wc, c + i, 8);
      sa = _mm_crc32_u64(sa, wa);
      sb = _mm_crc32_u64(sb, wb);
      sc = _mm_crc32_u64(sc, wc);
    }
    state = shift(shift(static_cast<uint32_t>(sa)) ^ static_cast<uint32_t>(sb)) ^
            static_cast<uint32_t>(sc);
    *p += 3 * block;
    *size -= 3 * block;
  }
  return state;
}

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const uint8_t* p,
                                                       size_t size) {
  uint32_t state = ~crc;
  if (size >= 3 * kShortBlock) {
    static const ZeroShift long_shift(kLongBlock);
    static const ZeroShift short_shift(kShortBlock);
    state = RunThreeStreams(state, &p, &size, kLongBlock, long_shift);
    state = RunThreeStreams(state, &p, &size, kShortBlock, short_shift);
  }
  return ~RunSse42(state, p, size);
}

// A function-local static: safe to call from other files' static initialisers.
bool HaveSse42() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return have;
}
#endif

}  // namespace

uint32_t Extend(uint32_t crc, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (HaveSse42()) return ExtendSse42(crc, p, size);
#endif
  return ExtendPortable(crc, p, size);
}

}  // namespace crc32c
}  // namespace servekit
