"""Giving a fixed-batch ONNX export a free batch axis, so one inference can take several images.

Ultralytics exports made without ``dynamic=True`` bake batch 1 into the target shapes of their ``Reshape`` nodes
(the attention block, the head). Those targets are rewritten to ``0`` ("copy this axis from the input"), but
only where ONNX shape inference, run with a symbolic batch, shows that the reshaped tensor's first axis is
symbolic (it follows the batch), so a constant that merely starts with 1 (anchor grids, strides) keeps it. Each
reshape gets its own copy of its target first, so freeing one never changes another that shares it. The rewrite
is accepted only when every output's first axis then follows the input's; otherwise the model is reported as
unable to take batches.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

BATCH = "batch"
Dims = list[int | str | None]


class FixedBatch(ValueError):
    """The export's batch size cannot be freed by rewriting its reshape targets."""


def tensor_dims(value: onnx.ValueInfoProto) -> Dims:
    """A tensor's shape: ints where fixed, names (``"batch"``) or None where dynamic."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in value.type.tensor_type.shape.dim]


def with_batch_axis(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose single input and outputs take any batch size; raises FixedBatch if it cannot."""
    model = _copy(model)
    graph = model.graph
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = BATCH
    declared = [list(o.type.tensor_type.shape.dim) for o in graph.output]
    for output in graph.output:  # inferred afresh below, not taken from the declaration
        output.type.tensor_type.ClearField("shape")
    del graph.value_info[:]  # shapes recorded at export, with batch 1
    targets = _own_targets(graph)
    freed: set[str] = set()
    while True:  # each pass frees the reshapes the batch axis reaches; their outputs carry it on to the next
        shapes = _inferred_dims(model)
        newly = [
            node
            for node in graph.node
            if node.op_type == "Reshape"
            and node.input[1] in targets
            and node.input[1] not in freed
            and not _allows_zero(node)
            and _follows_batch(shapes.get(node.input[0], [1]))
            and targets[node.input[1]].value[0] == 1
        ]
        if not newly:
            break
        for node in newly:
            targets[node.input[1]].set_first(0)
            freed.add(node.input[1])
    inferred = _inferred_dims(model, outputs=True)
    for output, dims in zip(graph.output, declared, strict=True):
        if not _follows_batch(inferred.get(output.name, [1])):
            raise FixedBatch(f"its output {output.name!r} does not follow the input's batch axis")
        shape = output.type.tensor_type.shape
        shape.dim.extend(dims)
        shape.dim[0].ClearField("dim_value")
        shape.dim[0].dim_param = BATCH
    return model


def _follows_batch(dims: Dims) -> bool:
    """Whether a tensor's first axis is the batch: symbolic (shape inference names merged symbols anew), where
    a tensor computed from constants alone has a fixed size."""
    return bool(dims) and not isinstance(dims[0], int)


def _allows_zero(node: onnx.NodeProto) -> bool:
    """``allowzero=1`` makes a 0 in the target a real zero, not "copy": such a reshape is left as it is."""
    return any(a.name == "allowzero" and a.i == 1 for a in node.attribute)


class _Target:
    """One reshape's own target shape (an initializer)."""

    def __init__(self, tensor: onnx.TensorProto) -> None:
        self._tensor = tensor
        self.value = numpy_helper.to_array(tensor).copy()

    def set_first(self, dim: int) -> None:
        self.value[0] = dim
        self._tensor.CopyFrom(numpy_helper.from_array(self.value.astype(np.int64), self._tensor.name))


def _own_targets(graph: onnx.GraphProto) -> dict[str, _Target]:
    """Gives every reshape whose target is a constant its own initializer holding it; by initializer name."""
    constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    targets: dict[str, _Target] = {}
    for index, node in enumerate(graph.node):
        if node.op_type != "Reshape" or node.input[1] not in constants:
            continue
        name = f"{node.input[1]}__batch_axis_{index}"
        graph.initializer.append(numpy_helper.from_array(constants[node.input[1]].astype(np.int64), name))
        node.input[1] = name
        targets[name] = _Target(graph.initializer[-1])
    return targets


def _inferred_dims(model: onnx.ModelProto, outputs: bool = False) -> dict[str, Dims]:
    inferred = shape_inference.infer_shapes(model)
    values = list(inferred.graph.output) if outputs else [*inferred.graph.input, *inferred.graph.value_info]
    return {v.name: tensor_dims(v) for v in values}


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
