// ReadTable: every key and value of a LevelDB-format table held in memory.
// TensorFlow writes a tensor bundle's index (variables/variables.index) in
// this format: data blocks of prefix-compressed keys, an index block that
// points at them, a metaindex block (TensorFlow leaves it empty: no filters)
// and a 48-byte footer ending in the table magic number.
//
// servekit reads these tables itself rather than with Debian's libleveldb:
//  - a model file may be hostile, and every parser of such bytes is fuzzed
//    (tests/fuzz/). The fuzzer needs coverage and AddressSanitizer inside the
//    parser; the distro's libleveldb.so has neither, so a fuzzer could only
//    treat it as a black box.
//  - the subset needed is small: no filters, no compression (TensorFlow's
//    BundleWriter writes index blocks uncompressed), no seeking, one pass.
//  - leveldb::Table wants a RandomAccessFile and decompresses Snappy blocks
//    when asked to; here every offset is checked against the buffer, every
//    block's checksum is verified, and compressed blocks are refused.
//
// Every failure is a DataLoss error that says what is wrong and where. Work is
// linear in the file's size: blocks must not overlap, and what the entries
// expand to (keys are prefix-compressed) is bounded by TableOptions.
// Thread-safe: a pure function.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/util/status.h"

namespace servekit {

struct TableEntry {
  std::string key;
  std::string value;
};

struct TableOptions {
  // Off only in the fuzzer: anyone can compute a CRC, so the parsing behind
  // the checksums must hold on its own, and the fuzzer must get past them.
  bool verify_checksums = true;
  // Longest key accepted (TensorFlow's checkpoint keys are under 200 bytes).
  size_t max_key_bytes = 64 << 10;
  // Most bytes all keys and values may expand to.
  size_t max_total_bytes = 256 << 20;
};

// All entries, in the table's (strictly increasing, bytewise) key order.
StatusOr<std::vector<TableEntry>> ReadTable(absl::string_view file,
                                            const TableOptions& options = TableOptions());

}  // namespace servekit
