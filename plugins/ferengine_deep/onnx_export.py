"""A fitted ``cnn`` as an ONNX graph on onnxruntime, in float32 or int8 (``ferengine export``).

:func:`export_cnn` turns a fitted :class:`~ferengine_deep.estimator.CNN` into an
:class:`OnnxClassifier`: its network, input scaling included, exported by
``torch.onnx.export`` (the ``torch.export``-based exporter, opset :data:`OPSET`, any
batch size), optionally quantised to int8 by onnxruntime's post-training static
quantisation (QDQ, per-channel weights, activation ranges from calibration images).
The classifier prepares images exactly as the ``cnn`` does (grey, uint8, area resize
to its side) and runs the graph on onnxruntime: it needs the ``onnx`` extra but no
torch. The graph is held as bytes, which skops saves as they are, so an exported model
is an ordinary ferengine model file that ``ferengine.load`` and ``ferengine predict``
take unchanged. On load and before a session is built, the graph is checked
(:func:`graph_problem`): one uint8 image input of the right side, one output per
class, only ONNX's and onnxruntime's own operators, and no external data files.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
import warnings
from collections.abc import Iterator
from numbers import Integral
from pathlib import Path
from typing import Any, Self

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ferengine import runtime
from ferengine.errors import ModelFormatError
from ferengine.imageops import to_grey, to_uint8
from ferengine.images import validate_images
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.base import LogitsClassifier
from ferengine_deep.estimator import square_batch

#: ONNX opset of exported graphs.
OPSET = 18
#: Names of the graph's input (uint8 N×1×S×S images) and output (N×K logits).
INPUT, OUTPUT = "images", "logits"
FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)
#: Operator domains a graph may use: ONNX's own and onnxruntime's built-in contrib ops.
DOMAINS = frozenset({"", "ai.onnx", "com.microsoft"})


class OnnxClassifier(LogitsClassifier):
    """A ``cnn`` exported to ONNX, predicting on onnxruntime (made by export, not by ``fit``).

    It takes images (N×H×W or N×H×W×C) as the ``cnn`` it was exported from: greyed,
    converted to uint8 and resized to ``size_`` with area interpolation; the graph
    scales them as the network did. onnxruntime runs on the thread count of
    :func:`ferengine.runtime.options` (``ferengine --threads N``; unset: its own default).

    Parameters
    ----------
    batch_size : int
        Images per call of the graph at prediction (bounds the memory of a large batch).

    Attributes
    ----------
    onnx_model_ : bytes
        The serialised ONNX graph: uint8 ``images`` N×1×S×S in, float ``logits`` N×K out.
    classes_ : ndarray
        Class labels, in the order of the graph's outputs.
    size_ : int
        Side S the images are resized to.
    image_shape_, n_features_in_
        The shape of the images the ``cnn`` was fitted on, and its number of values.
    quantization_ : {None, "int8"}
        How the graph was quantised.
    """

    requires = ("onnx", "onnxruntime")
    extra = "onnx"

    def __init__(self, batch_size: int = 256) -> None:
        self.batch_size = batch_size

    def fit(self, X: Any, y: Any = None) -> Self:
        """Refuse: an OnnxClassifier is exported from a fitted ``cnn``, never trained.

        Raises
        ------
        TypeError
            Always, naming how one is made.
        """
        raise TypeError(
            "OnnxClassifier is not trained: export a fitted cnn instead "
            "(ferengine export MODEL --format onnx, or CNN.export('onnx'))"
        )

    def _images(self, X: Any) -> np.ndarray:
        """Return images prepared as the exported ``cnn`` prepares them (uint8 N×1×S×S)."""
        X = validate_images(self, X, reset=False, flat_ok=False)
        return square_batch(to_uint8(to_grey(np.asarray(X))), self.size_)

    def _logits(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "onnx_model_")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, Integral):
            raise TypeError(f"OnnxClassifier: batch_size must be an int, got {self.batch_size!r}")
        if self.batch_size < 1:  # checked here, not by _validate_params: ~0.2 ms per call
            raise ValueError(f"OnnxClassifier: batch_size must be ≥ 1, got {self.batch_size}")
        inputs = self._images(X)
        session = self._session()
        out = [session.run([OUTPUT], {INPUT: inputs[i : i + self.batch_size]})[0]
               for i in range(0, len(inputs), self.batch_size)]  # fmt: skip
        return np.concatenate(out).astype(np.float32, copy=False)

    def _session(self) -> Any:
        """Return the onnxruntime session for the thread count in force (built once per count)."""
        threads = runtime.current().threads or 0  # 0: onnxruntime's default
        cached = self.__dict__.get("_session_cache")
        if cached is not None and cached[0] == threads:
            return cached[1]
        import onnxruntime as ort

        problem = graph_problem(self.onnx_model_, self.size_, len(self.classes_))
        if problem:
            raise ModelFormatError(f"OnnxClassifier: onnx_model_ {problem}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(
            self.onnx_model_, options, providers=["CPUExecutionProvider"]
        )
        self._session_cache = (threads, session)
        return session

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_session_cache", None)  # a live session; rebuilt on first use
        return state


# ---- export ---------------------------------------------------------------------------


def export_cnn(
    cnn: Any, format: str, *, quantize: str | None = None, calibration: Any = None
) -> OnnxClassifier:
    """Return a fitted ``cnn`` as an :class:`OnnxClassifier` (see :meth:`CNN.export`).

    Raises
    ------
    ValueError
        An unknown ``format`` or ``quantize``, or ``quantize`` without calibration images.
    """
    check_is_fitted(cnn, "module_")
    if format not in FORMATS:
        raise ValueError(f"cnn: unknown export format {format!r}; known: {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(
            f"cnn: unknown quantization {quantize!r}; known: {', '.join(QUANTIZATIONS)}"
        )
    if quantize is not None and (calibration is None or len(calibration) == 0):
        raise ValueError(
            f"cnn: quantize={quantize!r} needs calibration images (training images whose "
            "activations set the int8 ranges)"
        )
    est = OnnxClassifier()
    est.classes_ = np.array(cnn.classes_, copy=True)
    est.size_ = int(cnn.size_)
    est.image_shape_ = tuple(cnn.image_shape_)
    est.n_features_in_ = int(cnn.n_features_in_)
    est.quantization_ = None
    est.onnx_model_ = network_to_onnx(cnn.module_, est.size_)
    if quantize is not None:
        est.onnx_model_ = quantize_int8(est.onnx_model_, est._images(calibration))
        est.quantization_ = quantize
    return est


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notes about torch internals (and torchvision's absence)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # torch's own deprecations inside the exporter (pytree specs), not the caller's
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def network_to_onnx(network: Any, size: int) -> bytes:
    """Return a ``cnn`` network as a serialised float32 ONNX graph taking uint8 N×1×S×S.

    The ``torch.export``-based exporter (torch's default; it needs onnxscript) traces
    the network in evaluation mode, input scaling included; the batch axis is dynamic.
    """
    import torch

    net = copy.deepcopy(network).float().eval()
    example = torch.zeros(2, 1, size, size, dtype=torch.uint8)
    with _quiet_exporter(), torch.inference_mode(False):
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    return program.model_proto.SerializeToString()


class _CalibrationImages:
    """Prepared calibration inputs in batches, as onnxruntime's ``CalibrationDataReader``.

    onnxruntime takes any object with ``get_next`` as a reader (its ``__subclasshook__``).
    """

    def __init__(self, inputs: np.ndarray, batch_size: int = 64) -> None:
        self._batches = iter([inputs[i : i + batch_size]
                              for i in range(0, len(inputs), batch_size)])  # fmt: skip

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT: batch}


def quantize_int8(model: bytes, inputs: np.ndarray) -> bytes:
    """Return a float ONNX graph quantised to int8 on calibration ``inputs`` (uint8 N×1×S×S).

    onnxruntime's post-training static quantisation: the graph is pre-processed (shape
    inference, fusions), activation ranges are the min–max of the calibration
    activations, and weights (per output channel) and activations become int8/uint8
    with QuantizeLinear/DequantizeLinear pairs (QDQ), which onnxruntime fuses into
    integer kernels.

    Weights use 7 of their 8 bits (``reduce_range``): on x86 CPUs without VNNI (AVX2,
    AVX-512 without VNNI) the u8×s8 dot product's 16-bit intermediate sums saturate at
    full range, so the same file scored 0.89 points below the float network there; at
    7 bits no CPU saturates and each gives each face the same class.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="ferengine-int8-") as tmp:
        source, prepared, target = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "q.onnx"))
        source.write_bytes(model)
        quant_pre_process(str(source), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            _CalibrationImages(inputs),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
        )
        return target.read_bytes()


# ---- checks ---------------------------------------------------------------------------


def graph_problem(data: Any, size: int, n_classes: int) -> str | None:
    """Say what is wrong with a serialised graph for an :class:`OnnxClassifier`, or None.

    It must parse as ONNX, take one uint8 input ``images`` of shape (N, 1, size, size),
    give one output ``logits`` with ``n_classes`` columns, use only operators of
    :data:`DOMAINS` (or functions it defines), and keep every tensor inside the file
    (external data would make onnxruntime read other files).
    """
    import onnx
    from google.protobuf.message import DecodeError

    if not isinstance(data, bytes):
        return f"is a {type(data).__name__}, not bytes"
    try:
        model = onnx.load_model_from_string(data)  # never reads external data
    except (DecodeError, ValueError, RuntimeError) as exc:
        return f"is not an ONNX model ({type(exc).__name__})"
    graph = model.graph
    domains = DOMAINS | {f.domain for f in model.functions}
    for g in _graphs([graph, *(f for f in model.functions)]):
        for tensor in _tensors(g):
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                return f"refers to external data for tensor {tensor.name!r}; refusing it"
        for node in g.node:
            if node.domain not in domains:
                return f"uses operator {node.domain}.{node.op_type}, outside {sorted(DOMAINS)}"
    initialised = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialised]
    if [i.name for i in inputs] != [INPUT] or [o.name for o in graph.output] != [OUTPUT]:
        return (
            f"has inputs {[i.name for i in inputs]} and outputs "
            f"{[o.name for o in graph.output]}, expected [{INPUT!r}] and [{OUTPUT!r}]"
        )
    tensor_type = inputs[0].type.tensor_type
    if tensor_type.elem_type != onnx.TensorProto.UINT8:
        return f"input {INPUT!r} has element type {tensor_type.elem_type}, expected uint8"
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    if dims[1:] != [1, size, size]:
        return f"input {INPUT!r} has shape {dims}, expected [N, 1, {size}, {size}]"
    out_dims = [d.dim_value if d.HasField("dim_value") else None
                for d in graph.output[0].type.tensor_type.shape.dim]  # fmt: skip
    if len(out_dims) != 2 or out_dims[1] not in (None, n_classes):
        return f"output {OUTPUT!r} has shape {out_dims}, expected [N, {n_classes}]"
    return None


def _graphs(graphs: list[Any]) -> Iterator[Any]:
    """Yield graphs (and functions) and every subgraph their nodes hold."""
    stack = list(graphs)
    while stack:
        graph = stack.pop()
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    stack.append(attribute.g)
                stack.extend(attribute.graphs)


def _tensors(graph: Any) -> Iterator[Any]:
    """Yield the tensors a graph stores: initialisers and node attributes."""
    yield from getattr(graph, "initializer", ())
    for sparse in getattr(graph, "sparse_initializer", ()):
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
