#include "servekit/formats/savedmodel/node_view.h"

#include "google/protobuf/stubs/common.h"
#include "servekit/util/protobuf_wire.h"

namespace servekit {
namespace {

// NodeDef's field numbers (node_def.proto).
constexpr uint32_t kNameField = 1;
constexpr uint32_t kOpField = 2;
constexpr uint32_t kInputField = 3;
constexpr uint32_t kDeviceField = 4;
constexpr uint32_t kAttrField = 5;

bool IsUtf8(absl::string_view text) {
  return google::protobuf::internal::IsStructurallyValidUTF8(text.data(),
                                                             static_cast<int>(text.size()));
}

}  // namespace

void NodeView::Clear() {
  name_ = op_ = device_ = absl::string_view();
  inputs_.clear();
  attrs_.clear();
}

bool NodeView::Read(absl::string_view serialized) {
  Clear();
  bool strings_valid = true;
  const bool well_formed = ForEachWireField(serialized, [&](const WireField& field) {
    if (field.type != WireType::kLengthDelimited) return;  // protobuf keeps it as unknown
    switch (field.number) {
      case kNameField:
        name_ = field.payload;
        break;
      case kOpField:
        op_ = field.payload;
        break;
      case kInputField:
        inputs_.push_back(field.payload);
        break;
      case kDeviceField:
        device_ = field.payload;
        break;
      case kAttrField:
        attrs_.push_back(field.payload);
        return;  // bytes: not checked as UTF-8
      default:
        return;
    }
    // Every occurrence is checked, not only the last: protobuf checks each
    // string it parses.
    strings_valid &= IsUtf8(field.payload);
  });
  if (!well_formed || !strings_valid) {
    Clear();
    return false;
  }
  return true;
}

}  // namespace servekit
