// The :predict body that nearly every client sends, read by hand in one pass
// with no JSON library: {"instances": [[0.1234, -5, 12.5], ...]} or "inputs",
// optionally with a "signature_name" string, whitespace wherever JSON allows
// it, every number either a short decimal (util/short_decimal.h: no exponent,
// at most 19 significant digits, so the 16 and 17 digits of numpy's float32
// values after tolist() and json.dumps too) or a number with an exponent of
// one or two digits (Python writes values below 1e-4 as "1e-05"). That form
// is narrow enough to check completely by hand, and skipping a general
// parser's structural index and per-value iteration makes a 784-number body
// several times cheaper to read than with simdjson (bench/json_bench.cc).
//
// It declines (false) everything outside that form, however valid: escapes or
// non-ASCII bytes in a string, a three-digit exponent, a long mantissa,
// another key, NaN, a cut-short body. The caller then reads the body another
// way, which decides; so what this accepts must be read exactly as that way
// reads it (the json_body fuzzer compares them), and nothing else matters.
//
// The body's shape is checked as numeric_body_reader.h checks it: lists
// nested as deep as `spec`'s rank, each inner one as long as its dimension,
// at least one row, at most `max_elements` numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "servekit/engine/session.h"
#include "servekit/util/default_init_allocator.h"

namespace servekit {

// A number as the two doubles whose IEEE quotient is its value; the caller
// divides them all at once (short_decimal.h's ShortDecimalQuotient).
struct NumberQuotient {
  double numerator;
  double divisor;
};

// Grown without zeroing: the scanner sizes it for the most numbers a list
// could hold, fills what it reads and shrinks it to that.
using NumberQuotients = std::vector<NumberQuotient, DefaultInitAllocator<NumberQuotient>>;

struct PlainPredictBody {
  bool row_format = false;            // "instances" (true) or "inputs"
  std::string_view signature_name;    // into the body; empty when absent
  int64_t rows = 0;                   // entries of the outer list
  NumberQuotients* values = nullptr;  // appended to, in row-major order
};

// RapidJSON, under the general path, refuses some valid numbers ("Number too
// big to be stored in double": 0e309, a 309-digit integer below DBL_MAX).
// Such numbers need a three-digit exponent or hundreds of digits, so the fast
// readers (this one and numeric_body_reader.h) leave any token longer than
// this, or with a longer exponent, to the general path, which answers as it does.
inline constexpr size_t kLongestFastNumberToken = 40;
inline constexpr int kMostFastExponentDigits = 2;

// The NUL bytes that must follow the body in memory: a NUL ends every loop,
// separators are looked for 64 bytes at a time, and a number's characters
// are read in words that may reach past it (short_decimal.h).
inline constexpr size_t kPlainBodyPadding = 64;

// Reads `body` (followed in memory by kPlainBodyPadding NUL bytes) for an
// input of `spec`'s shape. On false, out->values may hold a partial read.
bool ScanPlainPredictBody(std::string_view body, const TensorSpec& spec, int64_t max_elements,
                          PlainPredictBody* out);

}  // namespace servekit
