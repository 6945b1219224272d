// gRPC server reflection (grpc.reflection.v1alpha.ServerReflection) for the
// services in a method table, so grpcurl, grpc_cli and grpcio-reflection can
// list them and fetch their descriptors. Descriptors come from the protobuf
// messages compiled into servekit (the generated pool).
#pragma once

#include "servekit/server/grpc/grpc_method.h"

namespace servekit {

// Adds ServerReflectionInfo to `methods`; it lists the services in `methods`
// at the time of the call to AddReflection, and itself.
void AddReflection(GrpcMethodTable* methods);

}  // namespace servekit
