"""Read and write safetensors files with numpy alone, bf16 included (read bf16 is widened to float32).

The format is an 8-byte little-endian header length, a JSON header (dtype, shape, data_offsets per tensor)
and the raw data; files are memory-mapped, so a tensor costs memory only while it is converted.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolset.errors import ToolsetError

_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise ToolsetError(f"{path}: not a safetensors file (too short)")
        (length,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ToolsetError(f"{path}: not a safetensors file ({exc})") from None
    header.pop("__metadata__", None)
    return header, 8 + length


def model_files(model_dir: Path) -> list[Path]:
    """The safetensors files of a Hugging Face model folder (single file or shards)."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [model_dir / name for name in sorted(set(weight_map.values()))]
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise ToolsetError(f"{model_dir}: no .safetensors weights (a merged Hugging Face model folder is expected)")
    return files


def iter_tensors(model_dir: Path) -> Iterator[tuple[str, Any, str]]:
    """Yield ``(name, array, source_dtype)`` for every tensor of a model folder; bf16 comes back as float32."""
    import numpy as np

    for path in model_files(model_dir):
        header, start = read_header(path)
        data = np.memmap(path, dtype=np.uint8, mode="r")
        for name, info in header.items():
            begin, end = info["data_offsets"]
            chunk = data[start + begin : start + end]
            dtype = info["dtype"]
            if dtype == "BF16":
                array = (chunk.view("<u2").astype(np.uint32) << 16).view(np.float32)
            elif dtype in _DTYPES:
                array = chunk.view(_DTYPES[dtype])
            else:
                raise ToolsetError(f"{path}: tensor {name} has dtype {dtype}, which GGUF export does not read")
            yield name, array.reshape(info["shape"]), dtype


def write_safetensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Write numpy arrays as a safetensors file (little-endian, 8-byte aligned header)."""
    import numpy as np

    names = {np.dtype(v).str: k for k, v in _DTYPES.items()}
    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    arrays = {}
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = names.get(array.dtype.str)
        if dtype is None:
            raise ToolsetError(f"cannot write tensor {name} of dtype {array.dtype} to safetensors")
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays[name] = array
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for array in arrays.values():
            handle.write(array.tobytes())
