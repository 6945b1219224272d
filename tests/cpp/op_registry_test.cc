// OpRegistry (engine/op_registry.h): each kernels/ family adds its schemas from a
// static OpRegistration. Nothing in this test names a family, so it also checks
// that the linker kept every family file (servekit_kernels is linked whole).
#include "servekit/engine/op_registry.h"

#include <string>
#include <vector>

#include "test_util.h"

namespace servekit {
namespace {

TEST(OpRegistryTest, EveryFamilyRegistersItsOpsOnce) {
  // Sorted, as OpTypes returns them; a duplicate registration would appear twice.
  const std::vector<std::string> expected = {"Abs",
                                             "Add",
                                             "ArgMax",
                                             "AveragePool",
                                             "BatchNormalization",
                                             "Cast",
                                             "Ceil",
                                             "Clip",
                                             "Concat",
                                             "Constant",
                                             "Conv",
                                             "Div",
                                             "Dropout",
                                             "Einsum",
                                             "Elu",
                                             "Equal",
                                             "Erf",
                                             "Exp",
                                             "Expand",
                                             "Flatten",
                                             "Floor",
                                             "Gather",
                                             "Gelu",
                                             "Gemm",
                                             "GlobalAveragePool",
                                             "GlobalMaxPool",
                                             "Greater",
                                             "GreaterOrEqual",
                                             "Identity",
                                             "LayerNormalization",
                                             "LeakyRelu",
                                             "Less",
                                             "LessOrEqual",
                                             "Log",
                                             "LogSoftmax",
                                             "MatMul",
                                             "Max",
                                             "MaxPool",
                                             "Min",
                                             "Mul",
                                             "Neg",
                                             "Pad",
                                             "Pow",
                                             "Reciprocal",
                                             "ReduceMax",
                                             "ReduceMean",
                                             "ReduceMin",
                                             "ReduceProd",
                                             "ReduceSum",
                                             "Relu",
                                             "Reshape",
                                             "Selu",
                                             "Shape",
                                             "Sigmoid",
                                             "Sign",
                                             "Slice",
                                             "Softmax",
                                             "Softplus",
                                             "Sqrt",
                                             "Squeeze",
                                             "Sub",
                                             "Tanh",
                                             "Tile",
                                             "Transpose",
                                             "Unsqueeze",
                                             "Where"};
  EXPECT_EQ(OpRegistry::Global().OpTypes(), expected);
}

TEST(OpRegistryTest, FindByOpType) {
  const OpSchema* pad = OpRegistry::Global().Find("Pad");
  ASSERT_NE(pad, nullptr);
  EXPECT_EQ(pad->op_type, "Pad");
  EXPECT_EQ(pad->load_time_inputs, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(OpRegistry::Global().Find("FancyOp"), nullptr);
}

}  // namespace
}  // namespace servekit
