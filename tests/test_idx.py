"""IDX reader: round trips and every kind of damaged file we refuse (no network, tiny data)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from vae_core.data.idx import IdxFormatError, read_idx, write_idx


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """IDX bytes built by hand (independently of write_idx) for a big-endian-able array."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big).tobytes()


def put(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_uint8(tmp_path: Path, images: np.ndarray, gz: bool) -> None:
    data = idx_bytes(images)
    path = put(tmp_path, "x.idx", gzip.compress(data) if gz else data)  # no .gz suffix on purpose
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, images)
    assert out.flags.writeable


@pytest.mark.parametrize(
    ("code", "dtype"),
    [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
def test_other_dtypes_come_back_native(tmp_path: Path, code: int, dtype: type) -> None:
    arr = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    out = read_idx(put(tmp_path, "a.idx", idx_bytes(arr, code)))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("name", ["w.idx", "w.idx.gz"])
def test_write_idx_round_trip(tmp_path: Path, images: np.ndarray, name: str) -> None:
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    np.testing.assert_array_equal(read_idx(path), images)
    labels = np.array([1, 2, 3], dtype=np.int16)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l.idx", labels)), labels)


def test_wrong_magic(tmp_path: Path, images: np.ndarray) -> None:
    data = b"\x01\x00" + idx_bytes(images)[2:]
    with pytest.raises(IdxFormatError, match="not an IDX file"):
        read_idx(put(tmp_path, "magic.idx", data))


def test_png_is_not_idx(tmp_path: Path) -> None:
    with pytest.raises(IdxFormatError, match="png.idx"):
        read_idx(put(tmp_path, "png.idx", b"\x89PNG\r\n\x1a\n" + b"\0" * 32))


def test_bad_dtype_code(tmp_path: Path, images: np.ndarray) -> None:
    data = bytearray(idx_bytes(images))
    data[2] = 0x07
    with pytest.raises(IdxFormatError, match="dtype code 0x07"):
        read_idx(put(tmp_path, "code.idx", bytes(data)))


def test_zero_dimensions(tmp_path: Path) -> None:
    with pytest.raises(IdxFormatError, match="0 dimensions"):
        read_idx(put(tmp_path, "nd0.idx", b"\x00\x00\x08\x00"))


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path: Path, images: np.ndarray, gz: bool) -> None:
    data = idx_bytes(images)[:-7]
    path = put(tmp_path, "short.idx", gzip.compress(data) if gz else data)
    with pytest.raises(IdxFormatError, match=r"short\.idx: truncated payload"):
        read_idx(path)


def test_truncated_header(tmp_path: Path, images: np.ndarray) -> None:
    with pytest.raises(IdxFormatError, match="truncated dimension list"):
        read_idx(put(tmp_path, "hdr.idx", idx_bytes(images)[:9]))


@pytest.mark.parametrize("gz", [False, True])
def test_trailing_bytes(tmp_path: Path, images: np.ndarray, gz: bool) -> None:
    data = idx_bytes(images) + b"\x00"
    path = put(tmp_path, "long.idx", gzip.compress(data) if gz else data)
    with pytest.raises(IdxFormatError, match=r"long\.idx: trailing bytes"):
        read_idx(path)


def test_absurd_claimed_size_refused_before_allocating(tmp_path: Path) -> None:
    # 4 billion x 4 billion bytes claimed by a 12-byte file: must not try to allocate it.
    data = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 0xFFFFFFFF, 0xFFFFFFFF)
    with pytest.raises(IdxFormatError, match="limit"):
        read_idx(put(tmp_path, "huge.idx", data))
    small = idx_bytes(np.zeros((10, 10), np.uint8))
    with pytest.raises(IdxFormatError, match="limit"):
        read_idx(put(tmp_path, "small.idx", small), max_bytes=99)


def test_corrupt_gzip(tmp_path: Path, images: np.ndarray) -> None:
    packed = bytearray(gzip.compress(idx_bytes(images)))
    packed[12:20] = b"\xff" * 8  # smash the deflate stream
    with pytest.raises(IdxFormatError, match=r"bad\.gz: corrupt gzip"):
        read_idx(put(tmp_path, "bad.gz", bytes(packed)))
    cut = gzip.compress(idx_bytes(images))[:-10]  # stream ends early
    with pytest.raises(IdxFormatError, match=r"cut\.gz: corrupt gzip"):
        read_idx(put(tmp_path, "cut.gz", cut))
    junk = gzip.compress(idx_bytes(images)) + b"junkjunk"  # garbage after the gzip member
    with pytest.raises(IdxFormatError, match=r"junk\.gz: corrupt gzip"):
        read_idx(put(tmp_path, "junk.gz", junk))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(IdxFormatError, match="empty"):
        read_idx(put(tmp_path, "empty.idx", b""))


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")
