"""Giving a fixed-batch ONNX export a free batch axis, so one inference can take several images.

Ultralytics exports made without ``dynamic=True`` bake batch 1 into the target shapes of their ``Reshape`` nodes
(the attention block, the head). Those targets are rewritten to ``0`` ("copy this axis from the input") — but
only where ONNX shape inference, run with a symbolic batch, shows that the reshaped tensor's first axis is
XX
first axis then follows the input's; otherwise the model is reported as unable to take batches.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

BATCH = "batch"


class FixedBatch(ValueError):
    """The export's batch size cannot be freed by rewriting its reshape targets."""


def with_batch_axis(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose single input and output take any batch size; raises FixedBatch if it cannot."""
    model = _copy(model)
    graph = model.graph
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = BATCH
    declared = [list(o.type.tensor_type.shape.dim) for o in graph.output]
    for output in graph.output:  # inferred afresh below, not taken from the declaration
        output.type.tensor_type.ClearField("shape")
    del graph.value_info[:]  # shapes recorded at export, with batch 1
    targets = _reshape_targets(graph)
    while True:  # each pass frees the reshapes the batch axis reaches; their outputs carry it on to the next
        shapes = _inferred_dims(model)
        freed = 0
        for node in graph.node:
            if node.op_type != "Reshape" or node.input[1] not in targets:
                continue
            target = targets[node.input[1]]
            if _follows_batch(shapes.get(node.input[0], [1])) and target.value[0] == 1:
                target.set_first(0)
                freed += 1
        if not freed:
            break
    inferred = _inferred_dims(model, outputs=True)
    for output, dims in zip(graph.output, declared, strict=True):
        if not _follows_batch(inferred.get(output.name, [1])):
            raise FixedBatch(f"its output {output.name!r} does not follow the input's batch axis")
        shape = output.type.tensor_type.shape
        shape.dim.extend(dims)
        shape.dim[0].ClearField("dim_value")
        shape.dim[0].dim_param = BATCH
    return model


def _follows_batch(dims: list[int | str | None]) -> bool:
    """Whether a tensor's first axis is the batch: symbolic (shape inference names merged symbols anew), where
    a tensor computed from constants alone has a fixed size."""
    return bool(dims) and not isinstance(dims[0], int)


class _Target:
    """A reshape's target shape, held in a Constant node or an initializer."""

    def __init__(self, tensor: onnx.TensorProto) -> None:
        self._tensor = tensor
        self.value = numpy_helper.to_array(tensor).copy()

    def set_first(self, dim: int) -> None:
        self.value[0] = dim
        self._tensor.CopyFrom(numpy_helper.from_array(self.value.astype(np.int64), self._tensor.name))


def _reshape_targets(graph: onnx.GraphProto) -> dict[str, _Target]:
    tensors: dict[str, onnx.TensorProto] = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = node.attribute[0].t
    wanted = {n.input[1] for n in graph.node if n.op_type == "Reshape"}
    return {name: _Target(tensor) for name, tensor in tensors.items() if name in wanted}


def _inferred_dims(model: onnx.ModelProto, outputs: bool = False) -> dict[str, list[int | str | None]]:
    inferred = shape_inference.infer_shapes(model)
    values = list(inferred.graph.output) if outputs else list(inferred.graph.value_info)
    return {
        v.name: [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in v.type.tensor_type.shape.dim
        ]
        for v in values
    }


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
