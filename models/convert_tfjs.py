"""Convert a TF.js graph model (``model.json`` + ``.bin``) into ONNX without TensorFlow.

Only ``onnx`` and ``numpy`` are needed. The graph stays in TensorFlow's NHWC layout; 2-D operators that
ONNX defines on NCHW are wrapped in transposes, which ONNX Runtime's optimiser removes. Nodes whose inputs
are all constants are folded here with numpy, so shape arithmetic never reaches the ONNX graph.

Usage: ``python models/convert_tfjs.py MODEL.json OUT.onnx``
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17

_TF_DTYPES: dict[str, Any] = {
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_BOOL": np.bool_,
}
_MANIFEST_DTYPES: dict[str, Any] = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_ONNX_DTYPES = {np.float32: TensorProto.FLOAT, np.int32: TensorProto.INT32, np.int64: TensorProto.INT64}
_NHWC_TO_NCHW = [0, 3, 1, 2]
_NCHW_TO_NHWC = [0, 2, 3, 1]


class ConversionError(RuntimeError):
    """The graph uses something this converter does not translate."""


def _attr_str(node: dict[str, Any], key: str, default: str = "") -> str:
    raw = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(raw).decode() if raw else default


def _attr_ints(node: dict[str, Any], key: str) -> list[int]:
    return [int(v) for v in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_int(node: dict[str, Any], key: str, default: int = 0) -> int:
    return int(node.get("attr", {}).get(key, {}).get("i", default))


def _attr_bool(node: dict[str, Any], key: str) -> bool:
    return bool(node.get("attr", {}).get(key, {}).get("b", False))


def read_weights(model_json: dict[str, Any], folder: Path) -> dict[str, np.ndarray]:
    """Unpack the weight tensors listed in ``weightsManifest`` from the concatenated ``.bin`` shards."""
    weights: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        blob = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = np.float16 if quant and quant.get("dtype") == "float16" else _MANIFEST_DTYPES[spec["dtype"]]
            nbytes = count * np.dtype(stored).itemsize
            values = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
            offset += nbytes
            target = _MANIFEST_DTYPES[spec["dtype"]]
            weights[spec["name"]] = values.astype(target).reshape(shape)
        if offset != len(blob):
            raise ConversionError(f"weights use {offset} bytes but the shards hold {len(blob)}")
    return weights


class _Graph:
    """Accumulates ONNX nodes and initialisers while walking the TF graph in order."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.consts: dict[str, np.ndarray] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._emitted: set[str] = set()
        self._counter = 0

    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}__{self._counter}"

    def ref(self, name: str) -> str:
        """The ONNX value name for a TF input reference, emitting a constant initialiser if needed."""
        name = name.lstrip("^")
        if name.endswith(":0"):
            name = name[:-2]
        if name in self.consts and name not in self._emitted:
            self.initializers.append(numpy_helper.from_array(self.consts[name], name))
            self._emitted.add(name)
        return name

    def const_input(self, name: str) -> np.ndarray:
        key = name[:-2] if name.endswith(":0") else name
        if key not in self.consts:
            raise ConversionError(f"expected a constant input, got computed tensor {name!r}")
        return self.consts[key]

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def add(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.fresh(op), **attrs))

    def nchw(self, op: str, inputs: list[str], output: str, **attrs: Any) -> None:
        """Apply an NCHW-only ONNX operator to an NHWC tensor."""
        t_in, t_out = self.fresh("to_nchw"), self.fresh(op)
        self.add("Transpose", [inputs[0]], [t_in], perm=_NHWC_TO_NCHW)
        self.add(op, [t_in, *inputs[1:]], [t_out], **attrs)
        self.add("Transpose", [t_out], [output], perm=_NCHW_TO_NHWC)


def _pool_attrs(node: dict[str, Any]) -> dict[str, Any]:
    if _attr_str(node, "data_format", "NHWC") != "NHWC":
        raise ConversionError(f"{node['name']}: only NHWC is supported")
    padding = _attr_str(node, "padding")
    attrs: dict[str, Any] = {"strides": _attr_ints(node, "strides")[1:3]}
    if padding == "SAME":
        attrs["auto_pad"] = "SAME_UPPER"  # TF puts the odd extra pixel bottom/right
    elif padding != "VALID":
        raise ConversionError(f"{node['name']}: padding {padding!r} is not supported")
    return attrs


def _conv(g: _Graph, node: dict[str, Any], depthwise: bool) -> None:
    ins = node["input"]
    kernel = g.const_input(ins[1])  # [kh, kw, cin, cout] or depthwise [kh, kw, cin, mult]
    attrs = _pool_attrs(node)
    dil = _attr_ints(node, "dilations")
    attrs["dilations"] = dil[1:3] if dil else [1, 1]
    if depthwise:
        kh, kw, cin, mult = kernel.shape
        onnx_kernel = kernel.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
        attrs["group"] = cin
    else:
        onnx_kernel = kernel.transpose(3, 2, 0, 1)
    conv_inputs = [g.ref(ins[0]), g.const(np.ascontiguousarray(onnx_kernel), "kernel")]
    fused = [
        base64.b64decode(s).decode() for s in node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
    ]
    if fused:
        if fused[0] != "BiasAdd":
            raise ConversionError(f"{node['name']}: fused ops {fused} are not supported")
        conv_inputs.append(g.ref(ins[2]))
    activation = fused[1] if len(fused) > 1 else None
    out = node["name"] if activation is None else g.fresh("conv")
    g.nchw("Conv", conv_inputs, out, **attrs)
    if activation == "Relu":
        g.add("Relu", [out], [node["name"]])
    elif activation == "Relu6":
        g.add(
            "Clip",
            [out, g.const(np.array(0, np.float32), "zero"), g.const(np.array(6, np.float32), "six")],
            [node["name"]],
        )
    elif activation is not None:
        raise ConversionError(f"{node['name']}: fused activation {activation!r} is not supported")


def _strided_slice_args(
    node: dict[str, Any], begin: np.ndarray, end: np.ndarray, step: np.ndarray
) -> tuple[list[int], list[int]]:
    for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
        if _attr_int(node, mask):
            raise ConversionError(f"{node['name']}: StridedSlice {mask} is not supported")
    big = np.iinfo(np.int64).max
    starts = [0 if _attr_int(node, "begin_mask") >> i & 1 else int(b) for i, b in enumerate(begin)]
    ends = [
        (big if step[i] > 0 else -big) if _attr_int(node, "end_mask") >> i & 1 else int(e) for i, e in enumerate(end)
    ]
    return starts, ends


def _fold(node: dict[str, Any], inputs: list[np.ndarray]) -> np.ndarray | None:
    """Evaluate a node whose inputs are all constants; None when the op is not foldable here."""
    op = node["op"]
    binary: dict[str, Callable[[Any, Any], Any]] = {
        "Add": np.add,
        "AddV2": np.add,
        "Sub": np.subtract,
        "Mul": np.multiply,
        "FloorDiv": np.floor_divide,
        "FloorMod": np.mod,
    }
    if op in binary:
        return np.asarray(binary[op](inputs[0], inputs[1]))
    if op == "Identity":
        return inputs[0]
    if op == "Cast":
        return inputs[0].astype(_TF_DTYPES[node["attr"]["DstT"]["type"]])
    if op == "ConcatV2":
        return np.concatenate(inputs[:-1], axis=int(inputs[-1]))
    if op == "Reshape":
        return inputs[0].reshape([int(v) for v in inputs[1]])
    if op == "GatherV2":
        return np.take(inputs[0], inputs[1], axis=int(inputs[2]))
    if op == "SparseToDense":
        indices, shape, values, default = inputs
        dense = np.full([int(v) for v in shape], default, dtype=values.dtype if values.size else default.dtype)
        if indices.size:
            dense[tuple(np.asarray(indices).reshape(len(indices), -1).T)] = values
        return dense
    if op == "StridedSlice":
        starts, ends = _strided_slice_args(node, inputs[1], inputs[2], inputs[3])
        index = tuple(
            slice(s, None if abs(e) >= np.iinfo(np.int64).max else e, int(k))
            for s, e, k in zip(starts, ends, inputs[3], strict=True)
        )
        return inputs[0][index]
    return None


def _emit(g: _Graph, node: dict[str, Any]) -> None:  # noqa: C901 - one branch per TF op is the clearest form
    op, name, ins = node["op"], node["name"], node.get("input", [])
    refs = [g.ref(i) for i in ins if not i.startswith("^")]
    elementwise = {
        "Add": "Add",
        "AddV2": "Add",
        "Sub": "Sub",
        "Mul": "Mul",
        "Relu": "Relu",
        "Sigmoid": "Sigmoid",
        "Identity": "Identity",
    }
    if op in elementwise:
        g.add(elementwise[op], refs, [name])
    elif op in ("Conv2D", "_FusedConv2D"):
        _conv(g, node, depthwise=False)
    elif op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        _conv(g, node, depthwise=True)
    elif op == "Relu6":
        g.add(
            "Clip", [refs[0], g.const(np.array(0, np.float32), "zero"), g.const(np.array(6, np.float32), "six")], [name]
        )
    elif op == "LeakyRelu":
        g.add("LeakyRelu", refs, [name], alpha=float(node["attr"]["alpha"]["f"]))
    elif op in ("Pad", "PadV2"):
        pads = g.const_input(ins[1]).astype(np.int64)
        inputs = [refs[0], g.const(np.concatenate([pads[:, 0], pads[:, 1]]), "pads")]
        if op == "PadV2":
            inputs.append(refs[2])
        g.add("Pad", inputs, [name], mode="constant")
    elif op == "Transpose":
        g.add("Transpose", [refs[0]], [name], perm=[int(v) for v in g.const_input(ins[1])])
    elif op == "Reshape":
        g.add("Reshape", [refs[0], g.const(g.const_input(ins[1]).astype(np.int64), "shape")], [name])
    elif op == "MaxPool":
        g.nchw("MaxPool", [refs[0]], name, kernel_shape=_attr_ints(node, "ksize")[1:3], **_pool_attrs(node))
    elif op == "ConcatV2":
        g.add("Concat", refs[:-1], [name], axis=int(g.const_input(ins[-1])))
    elif op == "Mean":
        axes = np.atleast_1d(g.const_input(ins[1])).astype(np.int64)
        g.add("ReduceMean", [refs[0]], [name], axes=[int(a) for a in axes], keepdims=int(_attr_bool(node, "keep_dims")))
    elif op == "ResizeBilinear":
        if _attr_bool(node, "align_corners"):
            raise ConversionError(f"{name}: align_corners resize is not supported")
        mode = "half_pixel" if _attr_bool(node, "half_pixel_centers") else "asymmetric"
        hw = g.const(g.const_input(ins[1]).astype(np.int64), "hw")
        # Full 4-D sizes (N and C from the input's shape, no `axes` attribute): ONNX Runtime rejects the
        # axes form between transposed convolutions at high optimisation levels.
        t_in, shape, sizes, t_out = (g.fresh(h) for h in ("to_nchw", "shape", "sizes", "resize"))
        g.add("Transpose", [refs[0]], [t_in], perm=_NHWC_TO_NCHW)
        g.add("Shape", [t_in], [shape], start=0, end=2)
        g.add("Concat", [shape, hw], [sizes], axis=0)
        g.add("Resize", [t_in, "", "", sizes], [t_out], mode="linear", coordinate_transformation_mode=mode)
        g.add("Transpose", [t_out], [name], perm=_NCHW_TO_NHWC)
    elif op == "SplitV":
        sizes = g.const(g.const_input(ins[1]).astype(np.int64), "split")
        count = _attr_int(node, "num_split")
        outs = [name] + [f"{name}:{i}" for i in range(1, count)]
        g.add("Split", [refs[0], sizes], outs, axis=int(g.const_input(ins[2])))
    elif op == "Equal":
        g.add("Equal", refs, [name])
    elif op == "Cast":
        dst = _ONNX_DTYPES[_TF_DTYPES[node["attr"]["DstT"]["type"]]]
        g.add("Cast", refs, [name], to=dst)
    elif op == "TopKV2":
        k = g.const(np.atleast_1d(g.const_input(ins[1])).astype(np.int64), "k")
        indices64 = g.fresh("topk_indices")
        g.add("TopK", [refs[0], k], [name, indices64], axis=-1, largest=1, sorted=1)
        g.add("Cast", [indices64], [f"{name}:1"], to=TensorProto.INT32)  # TF returns int32 indices
    elif op == "ExpandDims":
        g.add("Unsqueeze", [refs[0], g.const(np.atleast_1d(g.const_input(ins[1])).astype(np.int64), "axes")], [name])
    elif op == "FloorDiv":
        g.add("Div", refs, [name])  # indices here are non-negative, where truncation equals flooring
    elif op == "FloorMod":
        g.add("Mod", refs, [name], fmod=0)
    elif op == "GatherV2":
        g.add("Gather", refs[:2], [name], axis=int(g.const_input(ins[2])))
    elif op == "StridedSlice":
        step = g.const_input(ins[3])
        starts, ends = _strided_slice_args(node, g.const_input(ins[1]), g.const_input(ins[2]), step)
        g.add(
            "Slice",
            [
                refs[0],
                g.const(np.array(starts, np.int64), "starts"),
                g.const(np.array(ends, np.int64), "ends"),
                g.const(np.arange(len(starts), dtype=np.int64), "axes"),
                g.const(step.astype(np.int64), "steps"),
            ],
            [name],
        )
    else:
        raise ConversionError(f"{name}: TF op {op!r} is not supported by this converter")


def convert(model_path: Path) -> onnx.ModelProto:
    """Translate one TF.js graph model into an ONNX model (opset 17)."""
    model_json = json.loads(model_path.read_text())
    weights = read_weights(model_json, model_path.parent)
    g = _Graph(weights)
    nodes = model_json["modelTopology"]["node"]
    graph_inputs: list[onnx.ValueInfoProto] = []
    for node in nodes:
        op, name = node["op"], node["name"]
        if op == "Const":
            if name in weights:
                g.consts[name] = weights[name]
            else:  # zero-size constants carry no bytes in the shards
                tensor = node["attr"]["value"]["tensor"]
                dims = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
                g.consts[name] = np.zeros(dims, _TF_DTYPES[tensor["dtype"]])
            continue
        if op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
            continue
        data_inputs = [i for i in node.get("input", []) if not i.startswith("^")]
        keys = [i[:-2] if i.endswith(":0") else i for i in data_inputs]
        if all(k in g.consts for k in keys):
            folded = _fold(node, [g.consts[k] for k in keys])
            if folded is not None:
                g.consts[name] = folded
                continue
        _emit(g, node)
    signature = model_json["signature"]["outputs"]
    graph_outputs = [
        helper.make_tensor_value_info(
            key.split(":")[0], TensorProto.FLOAT, [int(d["size"]) for d in signature[key]["tensorShape"]["dim"]]
        )
        for key in sorted(signature)
    ]
    used = {i for n in g.nodes for i in n.input}
    initializers = [t for t in g.initializers if t.name in used]
    graph = helper.make_graph(g.nodes, model_path.stem, graph_inputs, graph_outputs, initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nonsite-convert-tfjs"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_json", type=Path, help="TF.js model.json (weights shards beside it)")
    parser.add_argument("output", type=Path, help="ONNX file to write")
    args = parser.parse_args(argv)
    try:
        model = convert(args.model_json)
    except (ConversionError, OSError, KeyError, ValueError) as exc:
        print(f"error: cannot convert {args.model_json}: {exc}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    onnx.save(model, tmp)
    tmp.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
