"""The Open Inference Protocol (KServe V2) as data: tensors in, rows out, prices back.

No HTTP here: ``app.api.inference`` serves it. The model's inputs are derived
from the package's row schema (``HouseFeatures``), one tensor per feature:
``FP64`` for a number, ``BYTES`` for a label; so the protocol can never list
a feature the service does not take. A request's tensors become the same row
objects ``POST /api/v1/predict`` takes, and are priced by the same
``make_prediction``. Tensor data may be JSON (``data``) or binary (the
protocol's binary tensor data extension, tritonclient's default); a missing
value is ``null`` in JSON data, NaN in binary ``FP64`` data, and an empty
string (or ``NA``) in ``BYTES``, as in Kaggle's CSV.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from app.strict_json import parse_strict_json
from regression_model import HouseFeatures, PredictionResult

MODEL_NAME = "house-prices"
PRICE_OUTPUT = "price"
HEADER_LENGTH_HEADER = "Inference-Header-Content-Length"
BINARY_EXTENSION = "binary_tensor_data"

Datatype = Literal["FP64", "BYTES"]
Value = float | str | None

_FP64 = struct.Struct("<d")
_BYTES_LENGTH = struct.Struct("<I")


class TensorError(ValueError):
    """The request as a whole is malformed: the protocol's 400 ``{"error": ...}``."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of the model: its name, datatype and shape."""

    name: str
    datatype: Datatype

    def metadata(self) -> dict[str, Any]:
        """The tensor as the protocol's model metadata lists it (any batch size)."""
        return {"name": self.name, "datatype": self.datatype, "shape": [-1]}


PRICE_TENSOR = TensorSpec(PRICE_OUTPUT, "FP64")


@cache
def input_tensors() -> dict[str, TensorSpec]:
    """One tensor per feature of ``HouseFeatures``, by its Kaggle name.

    A field whose JSON schema allows a string is a label (``BYTES``), every
    other field a number (``FP64``), including ``MSSubClass``, whose labels
    are numbers.
    """
    properties = HouseFeatures.model_json_schema()["properties"]
    tensors = {}
    for name, schema in properties.items():
        options = schema.get("anyOf", [schema])
        is_label = any(option.get("type") == "string" for option in options)
        tensors[name] = TensorSpec(name, "BYTES" if is_label else "FP64")
    return tensors


@dataclass(frozen=True)
class InferenceRequest:
    """A decoded request: the rows to price and how to send the answer back."""

    id: str | None
    rows: list[dict[str, Value]]
    binary_output: bool


def decode_request(body: bytes, header_length: str | None) -> InferenceRequest:
    """Rows from an inference request's body, or ``TensorError`` saying what is wrong.

    ``header_length`` is the ``Inference-Header-Content-Length`` header: when
    present, the JSON header is that many bytes and binary tensor data follows.
    """
    header, binary = split_body(body, header_length)
    try:
        request = parse_strict_json(header)
    except json.JSONDecodeError as error:
        raise TensorError(f"the request is not valid JSON: {error.msg}") from error
    if not isinstance(request, dict):
        raise TensorError("the request must be a JSON object with 'inputs'")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError("'inputs' must be a non-empty list of tensors")
    columns = decode_inputs(inputs, binary)
    binary_output = wants_binary_output(request)
    request_id = request.get("id")
    return InferenceRequest(
        id=request_id if isinstance(request_id, str) else None,
        rows=to_rows(columns),
        binary_output=binary_output,
    )


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary data after it (empty without the header)."""
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise TensorError(
            f"{HEADER_LENGTH_HEADER} is {header_length!r}; it must be the length of "
            f"the JSON header, at most the body's {len(body)} bytes"
        )
    length = int(header_length)
    return body[:length], body[length:]


def decode_inputs(inputs: list[Any], binary: bytes) -> dict[str, list[Value]]:
    """Each input tensor's elements by name, checked against the model's inputs."""
    specs = input_tensors()
    columns: dict[str, list[Value]] = {}
    offset = 0
    for tensor in inputs:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise TensorError("each input must be an object with a 'name'")
        name = tensor["name"]
        spec = specs.get(name)
        if spec is None:
            raise TensorError(
                f"unknown input '{name}'; the model's inputs are listed at "
                f"/v2/models/{MODEL_NAME}"
            )
        if name in columns:
            raise TensorError(f"input '{name}' is given twice")
        if tensor.get("datatype") != spec.datatype:
            raise TensorError(
                f"input '{name}' has datatype {tensor.get('datatype')!r}; "
                f"the model takes {spec.datatype}"
            )
        size = binary_size(tensor)
        if size is None:
            values = json_elements(spec, tensor.get("data"))
        else:
            if offset + size > len(binary):
                raise TensorError(
                    f"input '{name}' declares {size} bytes of binary data; "
                    f"only {len(binary) - offset} follow the header"
                )
            values = binary_elements(spec, binary[offset : offset + size])
            offset += size
        check_shape(name, tensor.get("shape"), len(values))
        columns[name] = values
    if offset != len(binary):
        raise TensorError(
            f"{len(binary) - offset} bytes after the header belong to no input"
        )
    check_lengths(columns)
    return columns


def binary_size(tensor: dict[str, Any]) -> int | None:
    """The tensor's ``binary_data_size`` parameter, if its data is binary."""
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise TensorError(
            f"input '{tensor['name']}' has binary_data_size {size!r}; "
            "it must be a byte count"
        )
    return size


def flatten(data: Any) -> Iterator[Any]:
    """The elements of (possibly nested) JSON tensor data, in row-major order."""
    if isinstance(data, list):
        for item in data:
            yield from flatten(item)
    else:
        yield data


def json_elements(spec: TensorSpec, data: Any) -> list[Value]:
    """A tensor's ``data``: numbers for FP64, text for BYTES, None where missing."""
    if not isinstance(data, list):
        raise TensorError(f"input '{spec.name}' has no 'data' list")
    values: list[Value] = []
    for index, element in enumerate(flatten(data)):
        if element is None:
            values.append(None)
        elif spec.datatype == "FP64" and is_number(element):
            values.append(float(element))
        elif spec.datatype == "BYTES" and isinstance(element, str):
            values.append(element)
        else:
            kind = "a number" if spec.datatype == "FP64" else "a string"
            raise TensorError(
                f"input '{spec.name}' element {index} is {element!r}, not {kind} "
                f"({spec.datatype})"
            )
    return values


def is_number(value: Any) -> bool:
    """True for a JSON number (a boolean is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def binary_elements(spec: TensorSpec, raw: bytes) -> list[Value]:
    """Binary tensor data as values: little-endian doubles, or length-prefixed bytes."""
    if spec.datatype == "FP64":
        if len(raw) % _FP64.size:
            raise TensorError(
                f"input '{spec.name}' has {len(raw)} bytes of FP64 data, "
                f"not a multiple of {_FP64.size}"
            )
        return [
            None if math.isnan(number) else number for (number,) in _FP64.iter_unpack(raw)
        ]
    values: list[Value] = []
    offset = 0
    while offset < len(raw):
        if offset + _BYTES_LENGTH.size > len(raw):
            raise TensorError(f"input '{spec.name}' ends inside an element's length")
        (length,) = _BYTES_LENGTH.unpack_from(raw, offset)
        offset += _BYTES_LENGTH.size
        if offset + length > len(raw):
            raise TensorError(f"input '{spec.name}' ends inside element {len(values)}")
        try:
            values.append(raw[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError as error:
            raise TensorError(
                f"input '{spec.name}' element {len(values)} is not UTF-8 text"
            ) from error
        offset += length
    return values


def check_shape(name: str, shape: Any, count: int) -> None:
    """A tensor's shape must be ``[N]`` or ``[N, 1]`` and hold its ``N`` elements."""
    valid = (
        isinstance(shape, list)
        and all(isinstance(size, int) and not isinstance(size, bool) for size in shape)
        and len(shape) in (1, 2)
        and (len(shape) == 1 or shape[1] == 1)
    )
    if not valid:
        raise TensorError(
            f"input '{name}' has shape {shape!r}; the model takes [N] or [N, 1], "
            "one element per house"
        )
    if shape[0] != count:
        raise TensorError(f"input '{name}' has shape {shape!r} but {count} elements")


def check_lengths(columns: dict[str, list[Value]]) -> None:
    """Every input must hold one element per house: the same number of elements."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        first, *others = lengths.items()
        other = next(item for item in others if item[1] != first[1])
        raise TensorError(
            f"inputs have different lengths: '{first[0]}' has {first[1]} elements, "
            f"'{other[0]}' has {other[1]}; send one element per house in each"
        )
    if 0 in lengths.values():
        raise TensorError("the inputs hold no house; send at least one element")


def to_rows(columns: dict[str, list[Value]]) -> list[dict[str, Value]]:
    """Column tensors as row objects, the shape ``make_prediction`` takes."""
    count = len(next(iter(columns.values())))
    return [
        {name: values[index] for name, values in columns.items()}
        for index in range(count)
    ]


def wants_binary_output(request: dict[str, Any]) -> bool:
    """Whether the client asked for the price as binary data.

    Either for all outputs (the request's ``binary_data_output`` parameter)
    or for ``price`` itself; an output other than ``price`` is an error.
    """
    parameters = request.get("parameters")
    binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    outputs = request.get("outputs", [])
    if not isinstance(outputs, list):
        raise TensorError("'outputs' must be a list of requested outputs")
    for output in outputs:
        name = output.get("name") if isinstance(output, dict) else None
        if name != PRICE_OUTPUT:
            raise TensorError(
                f"unknown output {name!r}; the model's only output is '{PRICE_OUTPUT}'"
            )
        output_parameters = output.get("parameters")
        if isinstance(output_parameters, dict) and "binary_data" in output_parameters:
            binary = output_parameters["binary_data"] is True
    return binary


def encode_response(
    request: InferenceRequest, result: PredictionResult
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows.

    The price tensor holds one element per row: the price, or (JSON) ``null``
    / (binary) NaN where the row could not be priced. The reasons travel in
    the response's ``parameters``: ``errors`` and ``imputed`` are the same
    lists ``/api/v1/predict`` returns, as JSON text, since the protocol allows
    only strings, numbers and booleans as parameter values.
    """
    prices = result["predictions"]
    output: dict[str, Any] = {**PRICE_TENSOR.metadata(), "shape": [len(prices)]}
    binary = b""
    if request.binary_output:
        binary = b"".join(
            _FP64.pack(math.nan if price is None else price) for price in prices
        )
        output["parameters"] = {"binary_data_size": len(binary)}
    else:
        output["data"] = prices
    response: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": result["version"],
        "parameters": {
            "priced": len(prices) - prices.count(None),
            "errors": json.dumps(result["errors"]),
            "imputed": json.dumps(result["imputed"]),
        },
        "outputs": [output],
    }
    if request.id is not None:
        response["id"] = request.id
    header = json.dumps(response, allow_nan=False).encode()
    return header + binary, (len(header) if binary else None)


def model_metadata(version: str, platform: str) -> dict[str, Any]:
    """The protocol's model metadata: the name, the one version, every tensor."""
    return {
        "name": MODEL_NAME,
        "versions": [version],
        "platform": platform,
        "inputs": [spec.metadata() for spec in input_tensors().values()],
        "outputs": [PRICE_TENSOR.metadata()],
    }
