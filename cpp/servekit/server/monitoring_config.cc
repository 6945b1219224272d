#include "servekit/server/monitoring_config.h"

#include "servekit/proto/monitoring_config.pb.h"
#include "servekit/util/text_proto.h"

namespace servekit {

StatusOr<MonitoringSettings> ParseMonitoringConfig(const std::string& text) {
  tensorflow::serving::MonitoringConfig proto;
  RETURN_IF_ERROR(ParseTextProto(text, "monitoring config", &proto));
  MonitoringSettings settings;
  settings.prometheus_enabled = proto.prometheus_config().enable();
  if (!proto.prometheus_config().path().empty())
    settings.prometheus_path = proto.prometheus_config().path();
  if (settings.prometheus_path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid monitoring config: the Prometheus path '", settings.prometheus_path,
                     "' must start with '/'"));
  }
  return settings;
}

}  // namespace servekit
