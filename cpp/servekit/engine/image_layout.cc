#include "servekit/engine/image_layout.h"

#include "absl/strings/str_cat.h"

namespace servekit {

StatusOr<ImageLayout> ReadImageLayout(const Attributes& attributes) {
  ASSIGN_OR_RETURN(std::string layout, attributes.GetString(kImageLayoutAttribute, "NCHW"));
  if (layout == "NCHW") return ImageLayout::kNCHW;
  if (layout == "NHWC") return ImageLayout::kNHWC;
  return absl::InvalidArgumentError(
      absl::StrCat(kImageLayoutAttribute, " must be \"NCHW\" or \"NHWC\", not \"", layout, "\""));
}

}  // namespace servekit
