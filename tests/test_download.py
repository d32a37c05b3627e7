"""Downloads against a local HTTP server (127.0.0.1 only): checksums, resume, mirrors, fallback."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from vae_core.data import sources
from vae_core.data.datasets import DATA_ENV_VAR, DatasetUnavailable, load_split
from vae_core.data.download import (
    DownloadError,
    download_file,
    fetch_dataset_files,
    tqdm_progress,
)
from vae_core.data.idx import write_idx
from vae_core.data.sources import RemoteFile, SplitSpec

N = 6  # images in the synthetic split


@dataclasses.dataclass
class FileServer:
    """What the local server serves, how it misbehaves, and what it was asked."""

    base: str = ""
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    truncate_once: set[str] = dataclasses.field(default_factory=set)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)

    def ranges(self) -> list[str]:
        return [r for _, r in self.requests if r is not None]


class Handler(BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` support; HTTP/1.0, so each response closes the connection."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state: FileServer = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))  # type: ignore[union-attr]
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in state.truncate_once:  # announce everything, send half, hang up
            state.truncate_once.discard(self.path)
            body = body[: len(body) // 2]
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server() -> Iterator[FileServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = FileServer(base=f"http://127.0.0.1:{httpd.server_address[1]}")  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield httpd.state  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private, empty cache dir, no data dir from the environment, no proxies."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "vae-latent-lab"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def dead_url() -> str:
    """A 127.0.0.1 URL on a port nobody listens on: connection refused, at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def split_files(tmp_path: Path) -> dict[str, bytes]:
    """Tiny gzipped IDX files under the real MNIST test-split names."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N, 28, 28), dtype=np.uint8)
    labels = np.arange(N, dtype=np.uint8) % 10
    out = {}
    for name, arr in (("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels)):
        out[name] = write_idx(tmp_path / name, arr).read_bytes()
    return out


def patch_source(
    monkeypatch: pytest.MonkeyPatch, dataset: str, mirrors: tuple[str, ...], files: dict | None
) -> None:
    """Point a registry entry at test mirrors (and at the checksums of the tiny test files)."""
    src = sources.SOURCES[dataset]
    test = src.test
    if files is not None:
        test = SplitSpec(
            *(RemoteFile(f.name, md5(files[f.name])) for f in src.test.files), count=src.test.count
        )
    monkeypatch.setitem(
        sources.SOURCES, dataset, dataclasses.replace(src, mirrors=mirrors, test=test)
    )


def test_download_verifies_md5_and_reports_progress(server: FileServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000  # several chunks
    server.files["/f.bin"] = data
    calls: list[tuple[int, int | None]] = []
    dest = download_file(
        f"{server.base}/f.bin", tmp_path / "f.bin", md5(data), lambda d, t: calls.append((d, t))
    )
    assert dest.read_bytes() == data
    assert not (tmp_path / "f.bin.part").exists()
    assert calls[0] == (0, len(data)) and calls[-1] == (len(data), len(data))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # Already there with the right checksum: no second request.
    download_file(f"{server.base}/f.bin", dest, md5(data))
    assert len(server.requests) == 1


def test_checksum_mismatch_raises_and_leaves_nothing(server: FileServer, tmp_path: Path) -> None:
    server.files["/f.bin"] = b"not what you expected"
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file(f"{server.base}/f.bin", dest, "0" * 32)
    assert not dest.exists() and not (tmp_path / "f.bin.part").exists()


def test_interrupted_transfer_resumes_with_range(server: FileServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 400
    server.files["/f.gz"] = data
    server.truncate_once.add("/f.gz")
    dest, part = tmp_path / "f.gz", tmp_path / "f.gz.part"
    with pytest.raises(DownloadError, match="interrupted"):
        download_file(f"{server.base}/f.gz", dest, md5(data))
    assert not dest.exists() and part.stat().st_size == len(data) // 2
    calls: list[tuple[int, int | None]] = []
    download_file(f"{server.base}/f.gz", dest, md5(data), lambda d, t: calls.append((d, t)))
    assert server.ranges() == [f"bytes={len(data) // 2}-"]
    assert calls[0] == (len(data) // 2, len(data))
    assert dest.read_bytes() == data and not part.exists()


def test_server_ignoring_range_restarts_from_zero(server: FileServer, tmp_path: Path) -> None:
    data = b"0123456789" * 100
    server.files["/f"] = data
    server.ignore_range = True
    (tmp_path / "f.part").write_bytes(b"garbage that must not be kept")
    download_file(f"{server.base}/f", tmp_path / "f", md5(data))
    assert server.ranges() == ["bytes=29-"]  # asked to resume, was answered 200
    assert (tmp_path / "f").read_bytes() == data


def test_complete_part_file_is_finished_on_416(server: FileServer, tmp_path: Path) -> None:
    data = b"abc" * 50
    server.files["/f"] = data
    (tmp_path / "f.part").write_bytes(data)
    download_file(f"{server.base}/f", tmp_path / "f", md5(data))
    assert (tmp_path / "f").read_bytes() == data


def test_http_error_and_dead_host(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{server.base}/missing", tmp_path / "m", None)
    with pytest.raises(DownloadError, match="cannot download"):
        download_file(dead_url() + "x", tmp_path / "x", None, timeout=2)


def test_fetch_falls_back_to_second_mirror(
    server: FileServer,
    split_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, data in split_files.items():
        server.files[f"/good/{name}"] = data
    patch_source(monkeypatch, "mnist", (f"{server.base}/bad/", f"{server.base}/good/"), split_files)
    made: list[str] = []

    def factory(desc: str):
        made.append(desc)
        return lambda done, total: None

    images, labels = fetch_dataset_files("mnist", "test", tmp_path / "cache", factory)
    assert images == tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert images.read_bytes() == split_files[images.name] and labels.is_file()
    assert [p for p, _ in server.requests] == [
        "/bad/t10k-images-idx3-ubyte.gz",
        "/good/t10k-images-idx3-ubyte.gz",
        "/bad/t10k-labels-idx1-ubyte.gz",
        "/good/t10k-labels-idx1-ubyte.gz",
    ]
    assert made == list(split_files)


def test_load_split_downloads_into_cache_not_data_dir(
    server: FileServer,
    split_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    isolated_env: Path,
) -> None:
    for name, data in split_files.items():
        server.files[f"/m/{name}"] = data
    patch_source(monkeypatch, "mnist", (f"{server.base}/m/",), split_files)
    given = tmp_path / "readonly-data"
    given.mkdir()
    s = load_split("mnist", "test", data_dir=given)
    assert s.source == "downloaded" and len(s) == N
    assert "downloaded to" in s.note and str(isolated_env / "mnist") in s.note
    assert not any(given.iterdir())
    assert (isolated_env / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    # Second call: found in the cache, no new request.
    n = len(server.requests)
    assert load_split("mnist", "test", data_dir=given).source == "files"
    assert len(server.requests) == n


def test_no_files_no_network_gives_offline_sample_for_mnist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    patch_source(monkeypatch, "mnist", (dead_url(), dead_url()), None)
    s = load_split("mnist", "test", data_dir=tmp_path / "empty")
    assert s.source == "offline-sample" and len(s) == 1000  # the held-out part of the 5,000
    assert s.images.shape == (1000, 28, 28) and s.images.dtype == np.uint8
    assert s.labels.dtype == np.int64 and set(np.unique(s.labels)) == set(range(10))
    assert "not the real test set" in s.note and "could not be downloaded" in s.note
    with pytest.raises(DatasetUnavailable):
        load_split("mnist", "test", data_dir=tmp_path / "empty", allow_offline_sample=False)


def test_no_files_no_network_fashion_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    patch_source(monkeypatch, "fashion-mnist", (dead_url(),), None)
    with pytest.raises(DatasetUnavailable) as info:
        load_split("fashion-mnist", "train", data_dir=tmp_path / "empty")
    msg = str(info.value)
    assert "--data-dir" in msg and DATA_ENV_VAR in msg and "train-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "empty" / "fashion-mnist") in msg and "downloading failed" in msg


def test_tqdm_progress_bar(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    server.files["/f"] = b"z" * 200_000
    download_file(f"{server.base}/f", tmp_path / "f", None, tqdm_progress("f-bar"))
    err = capsys.readouterr().err
    assert "f-bar" in err and "100%" in err
