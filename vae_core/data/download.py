"""Checksummed, resumable downloads with the standard library only.

Users fetch ~30 MB over connections that drop, so a transfer writes to ``<dest>.part``, resumes
it with an HTTP Range request, and only an md5-verified file is renamed into place (atomically,
so a crash never leaves a half file under the final name that a later run would trust).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .sources import get_source

__all__ = [
    "DownloadError",
    "ProgressCallback",
    "ProgressFactory",
    "download_file",
    "fetch_dataset_files",
    "file_md5",
    "tqdm_progress",
]

#: ``progress(done_bytes, total_bytes_or_None)``; the last call always has ``done == total``.
ProgressCallback = Callable[[int, int | None], None]
#: Builds one ProgressCallback per file, given a short description (the file name).
ProgressFactory = Callable[[str], ProgressCallback]

_CHUNK = 1 << 16
_USER_AGENT = "vae-latent-lab/0.1 (+urllib)"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A file could not be downloaded, or what arrived failed its checksum."""


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in chunks (the files are tens of MB)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _finish(part: Path, dest: Path, md5: str | None, url: str) -> Path:
    if md5 is not None:
        got = file_md5(part)
        if got != md5.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"checksum mismatch for {url}: expected md5 {md5}, got {got}; "
                f"the downloaded file was deleted"
            )
    os.replace(part, dest)
    return dest


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _start_offset(resp: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Where the body starts in the file, and the file's total size if known."""
    length = resp.headers.get("Content-Length")
    if resp.status == 206 and offset:
        m = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
        if m and int(m.group(1)) == offset:
            return offset, None if m.group(3) == "*" else int(m.group(3))
        return -1, None  # a range we did not ask for: caller restarts from zero
    # 200: the server ignored Range (or there was none); the body is the whole file.
    return 0, int(length) if length and length.isdigit() else None


def download_file(
    url: str,
    dest: Path,
    md5: str | None,
    progress: ProgressCallback | None = None,
    timeout: float = 30,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present; return ``dest``.

    An existing ``dest`` whose md5 matches (or any existing ``dest`` when ``md5`` is None) is
    kept without touching the network. Raises DownloadError for HTTP/network errors (the part
    file is kept for the next attempt to resume) and for a checksum mismatch (the part file is
    deleted, since resuming it could never succeed).
    """
    dest = Path(dest)
    if dest.is_file() and (md5 is None or file_md5(dest) == md5.lower()):
        if progress is not None:
            size = dest.stat().st_size
            progress(size, size)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")

    for _attempt in range(2):  # the second attempt only after discarding a useless part file
        offset = part.stat().st_size if part.is_file() else 0
        try:
            resp = _open(url, offset, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # Range not satisfiable: the part is complete already, or longer than the file.
                if md5 is not None and file_md5(part) == md5.lower():
                    return _finish(part, dest, md5, url)
                part.unlink()
                continue
            raise DownloadError(f"HTTP {exc.code} {exc.reason} from {url}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"cannot download {url}: {reason}") from exc

        with resp:
            start, total = _start_offset(resp, offset)
            if start < 0:
                part.unlink()
                continue
            done = _stream(resp, part, start, total, progress, url)
        if total is not None and done > total:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: received {done:,} bytes, more than the {total:,} announced"
            )
        if progress is not None:
            progress(done, done)
        return _finish(part, dest, md5, url)
    raise DownloadError(f"{url}: the server kept answering with unusable byte ranges")


def _stream(
    resp: http.client.HTTPResponse,
    part: Path,
    start: int,
    total: int | None,
    progress: ProgressCallback | None,
    url: str,
) -> int:
    """Append the body to ``part`` from byte ``start``; return the part's final size."""
    done = start
    with open(part, "r+b" if start and part.exists() else "wb") as f:
        f.seek(start)
        f.truncate()
        if progress is not None:
            progress(done, total)
        try:
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"{url}: transfer interrupted after {done:,} bytes ({exc}); "
                f"the partial file {part} is kept, run again to resume"
            ) from exc
    # http.client silently returns b"" when the peer closes early, so check the length here.
    if total is not None and done < total:
        raise DownloadError(
            f"{url}: transfer interrupted after {done:,} of {total:,} bytes; "
            f"the partial file {part} is kept, run again to resume"
        )
    return done


def fetch_dataset_files(
    dataset: str,
    split: str,
    cache_dir: Path,
    progress: ProgressFactory | None = None,
    timeout: float = 30,
) -> tuple[Path, Path]:
    """Download (or reuse) the images and labels of one split under ``cache_dir/<dataset>/``.

    Each file is tried on every mirror in order; returns ``(images_path, labels_path)``.
    DownloadError lists what each mirror answered when all of them fail.
    """
    source = get_source(dataset)
    spec = source.split(split)
    folder = Path(cache_dir) / source.name
    paths = []
    for remote in spec.files:
        errors = []
        callback = progress(remote.name) if progress is not None else None
        for mirror in source.mirrors:
            url = mirror.rstrip("/") + "/" + remote.name
            try:
                paths.append(
                    download_file(url, folder / remote.name, remote.md5, callback, timeout)
                )
                break
            except DownloadError as exc:
                errors.append(str(exc))
        else:
            raise DownloadError(
                f"could not download {remote.name} from any mirror:\n  " + "\n  ".join(errors)
            )
    return paths[0], paths[1]


def tqdm_progress(desc: str) -> ProgressCallback:
    """A ProgressCallback drawing a tqdm bar (a ProgressFactory itself, for the CLI)."""
    from tqdm import tqdm  # only the CLI needs it

    bar = tqdm(desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=True)

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # rate-limited redraws (tqdm's mininterval)
        if total is not None and done >= total:
            bar.close()

    return update
