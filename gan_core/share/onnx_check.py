"""Static checks of an untrusted ONNX generator, before onnxruntime opens it.

A minimal protobuf reader (no `onnx` package needed, nothing is decoded but the graph's structure) lists
the operators, the declared inputs and outputs and the metadata. A generator needs only a few dozen plain
tensor operators; control flow (Loop, If, Scan), operators that size a tensor from a value
(ConstantOfShape, Expand, Tile, Range, Resize, Pad …), custom domains and local functions are refused.
Shape inputs of the allowed ones (Reshape's target, Slice's bounds …) may not depend on the latent values,
only on constants and tensor shapes, so a run's cost depends on the batch size alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from gan_core.errors import ModelFileError

# What our exporter emits (ring8, digits and 64×64 RGB models: Add, ConvTranspose, Gemm, LeakyRelu, Mul,
# Relu, Reshape, Tanh), plus the plain operators other tools use for the same networks.
ALLOWED_OPS = frozenset("""
Abs Add BatchNormalization Cast Clip Concat Constant Conv ConvTranspose Cos Div Dropout Elu Erf Exp Flatten
Gather Gelu Gemm HardSigmoid HardSwish Identity InstanceNormalization LayerNormalization LeakyRelu Log
MatMul Max Min Mul Neg Pow PRelu Reciprocal ReduceMean ReduceSum Relu Reshape Selu Shape Sigmoid Sin Size
Slice Softmax Softplus Split Sqrt Squeeze Sub Tanh Transpose Unsqueeze
""".split())
# Inputs that set an output's shape: they must come from constants or Shape/Size, never from z's values.
SHAPE_INPUTS = {"Reshape": (1,), "Slice": (1, 2, 3, 4), "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,),
                "ReduceMean": (1,), "ReduceSum": (1,)}
SHAPE_OF = frozenset({"Shape", "Size"})   # outputs depend on an input's shape, not its values

MAX_LATENT_DIM = 65_536
MAX_SAMPLE_VALUES = 3 * 256 * 256         # one sample: a 256×256 RGB image at most
MAX_NODES = 100_000


# --- protobuf wire format ------------------------------------------------------------------------

def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview):
    """(field number, wire type, value) of one message; length-delimited values stay memoryviews."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > n or num == 0:
            raise ValueError("truncated message")
        yield num, wire, value


def _text(v) -> str:
    return bytes(v).decode("utf-8", "replace")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# --- the model's structure ---------------------------------------------------------------------------

@dataclass
class Node:
    op: str
    domain: str
    inputs: list
    outputs: list
    has_subgraph: bool


@dataclass
class Summary:
    nodes: list = field(default_factory=list)
    initializers: set = field(default_factory=set)
    external: list = field(default_factory=list)     # names of tensors stored outside the file
    inputs: list = field(default_factory=list)       # (name, elem_type, dims); dims: int, str or None each
    outputs: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    functions: int = 0
    has_graph: bool = False


def _tensor(buf, s: Summary, init: bool) -> None:
    name, location = "", 0
    for num, wire, v in _fields(buf):
        if num == 8 and wire == 2:
            name = _text(v)
        elif num == 14 and wire == 0:
            location = v
    if init:
        s.initializers.add(name)
    if location == 1:
        s.external.append(name)


def _value_info(buf) -> tuple:
    name, elem, dims = "", 0, None
    for num, wire, v in _fields(buf):
        if num == 1 and wire == 2:
            name = _text(v)
        elif num == 2 and wire == 2:                        # TypeProto
            for tn, tw, tv in _fields(v):
                if tn == 1 and tw == 2:                     # tensor_type
                    for fn, fw, fv in _fields(tv):
                        if fn == 1 and fw == 0:
                            elem = fv
                        elif fn == 2 and fw == 2:           # shape
                            dims = []
                            for dn, dw, dv in _fields(fv):
                                if dn == 1 and dw == 2:     # Dimension: dim_value | dim_param
                                    d = None
                                    for kn, kw, kv in _fields(dv):
                                        if kn == 1 and kw == 0:
                                            d = _signed(kv)
                                        elif kn == 2 and kw == 2:
                                            d = _text(kv)
                                    dims.append(d)
    return name, elem, dims


def _node(buf, s: Summary) -> None:
    op, domain, ins, outs, sub = "", "", [], [], False
    for num, wire, v in _fields(buf):
        if wire != 2:
            continue
        if num == 1:
            ins.append(_text(v))
        elif num == 2:
            outs.append(_text(v))
        elif num == 4:
            op = _text(v)
        elif num == 7:
            domain = _text(v)
        elif num == 5:                                      # AttributeProto
            for an, aw, av in _fields(v):
                if an in (6, 11) and aw == 2:               # g / graphs: a subgraph (control flow)
                    sub = True
                elif an in (5, 10) and aw == 2:             # t / tensors
                    _tensor(av, s, init=False)
    s.nodes.append(Node(op, domain, ins, outs, sub))
    if len(s.nodes) > MAX_NODES:
        raise ValueError("too many nodes")


def summarize(data: bytes) -> Summary:
    """The structure of a serialized ModelProto; ValueError if it is not one."""
    s = Summary()
    for num, wire, v in _fields(memoryview(data)):
        if num == 7 and wire == 2:                          # graph
            s.has_graph = True
            for gn, gw, gv in _fields(v):
                if gw != 2:
                    continue
                if gn == 1:
                    _node(gv, s)
                elif gn == 5:
                    _tensor(gv, s, init=True)
                elif gn == 15:                              # sparse_initializer: values, indices
                    for sn, sw, sv in _fields(gv):
                        if sn in (1, 2) and sw == 2:
                            _tensor(sv, s, init=sn == 1)
                elif gn == 11:
                    s.inputs.append(_value_info(gv))
                elif gn == 12:
                    s.outputs.append(_value_info(gv))
        elif num == 14 and wire == 2:                       # metadata_props
            kv = {n: _text(x) for n, w, x in _fields(v) if w == 2}
            s.metadata[kv.get(1, "")] = kv.get(2, "")
        elif num in (25, 20):                               # functions, training_info: more graphs
            s.functions += 1
    return s


# --- the checks --------------------------------------------------------------------------------------

def check(data: bytes, name: str) -> Summary:
    """ModelFileError (one line) unless the file is a plain feed-forward generator within the limits."""
    try:
        s = summarize(data)
    except (ValueError, IndexError):
        s = None
    if s is None or not s.has_graph:
        # A serialized ONNX ModelProto starts with field 1 (ir_version), i.e. the byte 0x08.
        if data[:1] == b"\x08":
            raise ModelFileError(f"{name} looks like an ONNX file but cannot be read: it is probably "
                                 "truncated or corrupted (download or copy it again)")
        raise ModelFileError(f"{name} is not an ONNX model file")
    if s.external:
        raise ModelFileError(f"{name} keeps its weights in a separate file; re-export it with the weights inside")
    if s.functions:
        raise ModelFileError(f"{name} holds local functions or training graphs; a generator file has one "
                             "plain graph (re-export it)")
    custom = sorted({n.domain for n in s.nodes if n.domain not in ("", "ai.onnx")})
    if custom:
        raise ModelFileError(f"{name} uses operators of the domain {custom[0]!r}; only standard ONNX "
                             "operators are accepted")
    bad = sorted({n.op for n in s.nodes if n.op not in ALLOWED_OPS or n.has_subgraph})
    if bad:
        raise ModelFileError(f"{name} uses the operator{'s' if len(bad) > 1 else ''} {', '.join(bad[:5])}, "
                             "which a generator file may not contain (no control flow, no value-sized tensors)")
    _check_shape_inputs(s, name)
    _check_declared(s, name)
    return s


def _check_shape_inputs(s: Summary, name: str) -> None:
    """Shape-setting inputs may depend on shapes and constants, never on the latent values."""
    tainted = {n for n, _, _ in s.inputs if n not in s.initializers}
    for node in s.nodes:   # ONNX graphs are topologically sorted
        for i in SHAPE_INPUTS.get(node.op, ()):
            if i < len(node.inputs) and node.inputs[i] in tainted:
                raise ModelFileError(f"{name}: the shape input of a {node.op} node depends on the latent "
                                     "values; a generator's shapes may depend only on the batch size")
        if node.op not in SHAPE_OF and any(x in tainted for x in node.inputs):
            tainted.update(node.outputs)


def _check_declared(s: Summary, name: str) -> None:
    """Declared dimensions and metadata within the limits (the trial run checks the real shapes)."""
    for vname, _, dims in [*s.inputs, *s.outputs]:
        for d in (dims or [])[1:]:
            if isinstance(d, int) and not 0 <= d <= MAX_SAMPLE_VALUES:
                raise ModelFileError(f"{name}: {vname!r} declares a dimension of {d:,}; at most "
                                     f"{MAX_SAMPLE_VALUES:,}")
    meta = s.metadata
    if "latent_dim" in meta:
        try:
            ld = int(str(meta["latent_dim"]).strip())
        except ValueError:
            ld = None   # load_model names the invalid value
        if ld is not None and not 1 <= ld <= MAX_LATENT_DIM:
            raise ModelFileError(f"{name} has latent_dim={ld:,} in its metadata; expected 1 … {MAX_LATENT_DIM:,}")
    text = str(meta.get("output_shape", "")).strip()
    if text:
        try:
            dims = [int(v) for v in json.loads("[" + text.strip("[]()") + "]")]
        except (ValueError, TypeError):
            dims = None   # load_model names the invalid value
        if dims is not None:
            size = 1
            for d in dims:
                size *= max(d, 0)
            if size > MAX_SAMPLE_VALUES:
                raise ModelFileError(f"{name}: metadata output_shape={dims} makes samples of {size:,} values; "
                                     f"at most {MAX_SAMPLE_VALUES:,}")
