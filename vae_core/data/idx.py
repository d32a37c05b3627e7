"""Reading (and writing) IDX files, the format MNIST and Fashion-MNIST are served in.

Layout (http://yann.lecun.com/exdb/mnist/): two zero bytes, a dtype code, the number of
dimensions, then one big-endian uint32 per dimension, then the payload in C order, big-endian.
The files we load come from the network or from a folder a user pointed us at, so every field
is checked before it is trusted: a bad file must fail with a message naming it, never with a
numpy reshape error deep inside the app or a multi-gigabyte allocation.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["DTYPE_CODES", "MAX_IDX_BYTES", "IdxFormatError", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian numpy dtype, per the IDX spec.
DTYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Refuse payloads above this before allocating (the largest real file, Fashion train, is 47 MB).
MAX_IDX_BYTES = 2 * 1024**3

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file (or not a readable gzip of one)."""


def _is_gzip(path: Path) -> bool:
    # Sniff the magic bytes: a downloaded file may have lost (or never had) its .gz suffix.
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytearray:
    """Read exactly n bytes into a fresh (writable) buffer, or fail naming the file."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = f.readinto(view[got : got + _CHUNK])
        if not k:
            raise IdxFormatError(f"{path}: truncated {what}: expected {n:,} bytes, got {got:,}")
        got += k
    return buf


def _parse(f: BinaryIO, path: Path, max_bytes: int) -> np.ndarray:
    head = _read_exact(f, 4, path, "header")
    if head[0] != 0 or head[1] != 0:
        raise IdxFormatError(
            f"{path}: not an IDX file (magic number starts with {bytes(head[:2]).hex()}, "
            "expected 0000)"
        )
    code, ndim = head[2], head[3]
    if code not in DTYPE_CODES:
        valid = ", ".join(f"0x{c:02X}" for c in DTYPE_CODES)
        raise IdxFormatError(f"{path}: unknown IDX dtype code 0x{code:02X} (valid: {valid})")
    if ndim == 0:
        raise IdxFormatError(f"{path}: IDX header declares 0 dimensions")
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "dimension list"))
    dtype = DTYPE_CODES[code]
    nbytes = math.prod(dims) * dtype.itemsize
    if nbytes > max_bytes:
        raise IdxFormatError(
            f"{path}: IDX header claims dims {dims} = {nbytes:,} bytes, above the "
            f"{max_bytes:,}-byte limit; the file is corrupt or not a dataset we support"
        )
    payload = _read_exact(f, nbytes, path, f"payload for dims {dims}")
    if f.read(1):
        raise IdxFormatError(
            f"{path}: trailing bytes after the {nbytes:,}-byte payload for dims {dims}"
        )
    arr = np.frombuffer(payload, dtype=dtype).reshape(dims)
    # Native byte order: torch.from_numpy refuses big-endian arrays.
    return arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str], max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Load an IDX file (raw or gzip, detected by content) into a writable native-endian array.

    Raises IdxFormatError (naming the file) for a bad magic number, dtype code or dimension
    list, a payload shorter or longer than the header says, a claimed size over ``max_bytes``,
    or a damaged gzip stream. A missing file raises FileNotFoundError as usual.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise IdxFormatError(f"{path}: empty file")
    try:
        if _is_gzip(path):
            with gzip.open(path, "rb") as f:
                return _parse(f, path, max_bytes)
        with open(path, "rb") as f:
            return _parse(f, path, max_bytes)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise IdxFormatError(f"{path}: corrupt gzip data ({exc})") from exc


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None
) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` is true (default: ``.gz`` suffix).

    Used to build test fixtures and to export subsets in the same format the loaders read.
    """
    path = Path(path)
    arr = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in DTYPE_CODES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(
            f"dtype {arr.dtype} has no IDX code (supported: {sorted(map(str, codes))})"
        )
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"IDX needs 1..255 dimensions, got {arr.ndim}")
    big = arr.astype(native.newbyteorder(">"), copy=False)
    data = (
        bytes([0, 0, codes[native], arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + np.ascontiguousarray(big).tobytes()
    )
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
