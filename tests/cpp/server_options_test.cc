#include "servekit/server/server_options.h"

#include <gtest/gtest.h>

#include <set>

namespace servekit {
namespace {

std::string ErrorOf(absl::string_view name, const OptionValue& value,
                    absl::string_view display = "") {
  ModelServerOptions o;
  const Status status = SetServerOption(o, name, value, display.empty() ? name : display);
  return status.ok() ? "" : std::string(status.message());
}

TEST(ServerOptionsTest, NamesAndFlagsAreUniqueAndEveryDefaultReadsBack) {
  std::set<std::string> names, flags;
  const ModelServerOptions defaults;
  for (const ServerOption& option : ServerOptionTable()) {
    EXPECT_TRUE(names.insert(option.name).second) << option.name;
    if (option.flag != "-") {
      EXPECT_TRUE(flags.insert(option.flag.empty() ? option.name : option.flag).second)
          << option.flag;
    }
    ModelServerOptions o;
    // Setting an option to its own default changes nothing.
    const OptionValue value = option.get(defaults);
    if (!std::holds_alternative<std::monostate>(value)) {
      ASSERT_TRUE(SetServerOption(o, option.name, value, option.name).ok()) << option.name;
      EXPECT_EQ(option.get(o), value) << option.name;
    }
  }
  EXPECT_GE(names.size(), 20u);
}

TEST(ServerOptionsTest, ValuesAreStoredInTheirUnits) {
  ModelServerOptions o;
  ASSERT_TRUE(SetServerOption(o, "rest_api_timeout_in_ms", int64_t{1500}, "").ok());
  EXPECT_EQ(o.http.timeout, absl::Milliseconds(1500));
  ASSERT_TRUE(SetServerOption(o, "load_retry_interval_micros", int64_t{250}, "").ok());
  EXPECT_EQ(o.core.load_retry_interval, absl::Microseconds(250));
  ASSERT_TRUE(SetServerOption(o, "idle_timeout_seconds", 2.5, "").ok());
  EXPECT_EQ(o.idle_timeout, absl::Milliseconds(2500));
  ASSERT_TRUE(SetServerOption(o, "host", std::string("::1"), "").ok());
  EXPECT_EQ(o.grpc.address, "::1");
  EXPECT_EQ(o.http.address, "::1");
  ASSERT_TRUE(SetServerOption(o, "grpc_port", int64_t{0}, "").ok());
  EXPECT_TRUE(o.enable_grpc);
  ASSERT_TRUE(SetServerOption(o, "rest_api_port", std::monostate(), "").ok());
  EXPECT_FALSE(o.enable_rest) << "None turns an API off";
  ASSERT_TRUE(SetServerOption(o, "max_connections", std::monostate(), "").ok());
  EXPECT_EQ(o.max_connections, 0) << "None keeps the default";
}

TEST(ServerOptionsTest, BadValuesNameTheOptionAsTheUserWroteIt) {
  EXPECT_EQ(ErrorOf("grpc_max_message_bytes", int64_t{-1}),
            "grpc_max_message_bytes must be in [1, 2147483647]; got -1");
  EXPECT_EQ(ErrorOf("grpc_num_threads", int64_t{0}, "--grpc_max_threads"),
            "--grpc_max_threads must be positive or None (one per core); got 0");
  EXPECT_EQ(ErrorOf("rest_api_port", int64_t{70000}),
            "rest_api_port must be in [0, 65535] or None; got 70000");
  EXPECT_NE(ErrorOf("drain_timeout_seconds", -1.0).find("must not be negative"), std::string::npos);
  EXPECT_NE(ErrorOf("drain_timeout_seconds", std::numeric_limits<double>::infinity())
                .find("must be a finite number"),
            std::string::npos);
  EXPECT_EQ(ErrorOf("num_load_threads", 2.5), "num_load_threads must be an integer; got 2.5");
  EXPECT_EQ(ErrorOf("enable_model_management", int64_t{1}),
            "enable_model_management must be true or false; got 1");
  EXPECT_EQ(ErrorOf("colour", int64_t{1}), "unknown option 'colour'");
}

}  // namespace
}  // namespace servekit
