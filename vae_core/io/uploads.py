"""Turning an arbitrary uploaded or drawn image into an MNIST-style 28x28 digit.

Uploads are hostile: people drop in photos, screenshots, logos and broken files from the
internet. Everything is decoded with Pillow under explicit limits (bytes, declared pixels,
working resolution), and every refusal is an :class:`ImageInputError` with a one-line reason.

The preprocessing follows LeCun et al.'s preparation of MNIST (yann.lecun.com/exdb/mnist):
white ink on black, the digit's bounding box scaled so its longer side is 20 px (aspect kept,
anti-aliased), then pasted into a 28x28 field so that its centre of mass is at the centre.
"""

from __future__ import annotations

import contextlib
import io
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 32 * 2**20  # matches the app's upload limit (.streamlit/config.toml)
MAX_PIXELS = 40_000_000  # declared width*height; checked before any pixel is decoded
WORK_SIDE = 1024  # images are reduced to this longer side before any float maths
DIGIT_BOX = 20  # MNIST: the digit's longer side after normalisation
FIELD = 28  # MNIST: the final field
INK_THRESHOLD = 0.2  # after contrast stretch: what counts as ink for the bounding box
NOISE_FLOOR = 0.1  # after contrast stretch: paper texture / JPEG noise set to zero
MIN_CONTRAST = 0.08  # ink vs background difference below which we see no digit

_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_INT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


class ImageInputError(ValueError):
    """The input cannot be turned into a digit; ``str(exc)`` is a message for the user."""


def load_user_image(data: bytes) -> np.ndarray:
    """Decode image bytes and return a (28, 28) float32 MNIST-style digit in [0, 1]."""
    grey, alpha = _decode(data)
    if alpha is not None:
        grey = _composite(grey, alpha)
    return mnist_preprocess(grey)


def mnist_preprocess(grey: np.ndarray) -> np.ndarray:
    """(H, W) grey in [0, 1], either polarity -> (28, 28) float32 white-on-black digit.

    Raises ImageInputError when no digit-like ink stands out from the background.
    """
    g = np.nan_to_num(np.asarray(grey, dtype=np.float32), nan=0.0)
    if g.ndim != 2 or min(g.shape) < 1:
        raise ImageInputError("expected a 2-D greyscale image")
    g = np.clip(g, 0.0, 1.0)
    if np.median(_border(g)) > 0.5:  # light paper, dark ink: MNIST digits are white on black
        g = 1.0 - g
    background = float(np.median(_border(g)))
    # Photos carry sensor/JPEG speckles: the ink level and the bounding box are read from a
    # 3x3-averaged copy so that single bright pixels neither set the contrast nor widen the box.
    from scipy.ndimage import uniform_filter  # noqa: PLC0415 - 0.3 s import, needed per upload

    smooth = uniform_filter(g, size=3, mode="nearest") if min(g.shape) >= 64 else g
    peak = float(smooth.max())
    if peak - background < MIN_CONTRAST:
        raise ImageInputError("no digit found: the image is blank or has almost no contrast")
    g = np.clip((g - background) / (peak - background), 0.0, 1.0)
    g[g < NOISE_FLOOR] = 0.0
    ink = (smooth - background) / (peak - background) > INK_THRESHOLD
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise ImageInputError("no digit found: the image is blank or has almost no contrast")
    crop = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return _centre_by_mass(_fit_box(crop, DIGIT_BOX))


def _decode(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """Bytes -> (grey, alpha or None), float32 in [0, 1], longer side <= WORK_SIDE."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageInputError("expected the raw bytes of an image file")
    if len(data) == 0:
        raise ImageInputError("the file is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageInputError(f"the file is too large ({len(data) / 2**20:.0f} MiB; limit 32 MiB)")
    try:
        # Image.open reads only the header. Pillow itself raises DecompressionBombError above
        # 2 x MAX_IMAGE_PIXELS; our stricter limit is checked before any pixel is decoded.
        # (No warnings.catch_warnings here: it mutates global state and sessions are threads.)
        img = Image.open(io.BytesIO(data))
        _check_size(img)
        img.seek(0)  # animated GIF/PNG/WebP: the first frame
        img.draft("L" if img.mode == "RGB" else None, (WORK_SIDE, WORK_SIDE))  # JPEG only
        img.load()
    except ImageInputError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageInputError(
            f"the image declares too many pixels (limit {MAX_PIXELS / 1e6:.0f} megapixels)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError(
            "not an image file the app can read: use a PNG, JPEG, GIF, BMP, TIFF or WebP picture "
            "of one digit"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        raise ImageInputError(
            f"the image file is damaged or truncated, so it cannot be read (detail: {exc})"
        ) from exc
    # A malformed EXIF block must not reject an otherwise readable image.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(img, in_place=True)
    return _to_float(img)


def _check_size(img: Image.Image) -> None:
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageInputError("the image has no pixels")
    if w * h > MAX_PIXELS:
        raise ImageInputError(
            f"the image is too large ({w}x{h} = {w * h / 1e6:.0f} megapixels; "
            f"limit {MAX_PIXELS / 1e6:.0f})"
        )


def _to_float(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode -> grey (and alpha) floats, reduced to WORK_SIDE first."""
    mode = img.mode
    if mode in _INT_MODES or mode == "F":
        img = Image.fromarray(_scale_high_depth(np.asarray(img), mode), mode="F")
        img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.float32), None
    has_alpha = mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info)
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):  # shrink before converting: less memory
        img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    try:
        if has_alpha:
            img = img.convert("RGBA").convert("LA")
        elif mode != "L":
            img = (
                img.convert("RGB").convert("L")
                if mode not in ("1", "P", "RGB")
                else img.convert("L")
            )
    except (ValueError, OSError) as exc:
        raise ImageInputError(
            f"this image's colour format ({mode[:12]}) cannot be read; save it as PNG or JPEG"
        ) from exc
    img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if has_alpha:
        return arr[..., 0], arr[..., 1]
    return arr, None


def _scale_high_depth(arr: np.ndarray, mode: str) -> np.ndarray:
    """16-bit / 32-bit integer or float pixels -> float32 in [0, 1] with the right full scale."""
    a = arr.astype(np.float64)
    if mode == "F":
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        if a.min() >= 0.0 and a.max() <= 1.0:
            return a.astype(np.float32)
    elif mode != "I" or (a.min() >= 0 and a.max() <= 65535):
        return (np.clip(a, 0, 65535) / 65535.0).astype(np.float32)  # 16-bit full scale
    lo, hi = float(a.min()), float(a.max())  # arbitrary range: stretch what is there
    return ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)


def _composite(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten transparency onto the background that contrasts with the visible ink.

    A dark logo on a transparent sheet goes onto white, a light one onto black, so the
    transparent area always becomes background rather than a huge block of "ink".
    """
    weight = float(alpha.sum())
    if weight <= 1e-6:
        raise ImageInputError("no digit found: the image is fully transparent")
    ink_level = float((grey * alpha).sum() / weight)
    background = 1.0 if ink_level < 0.5 else 0.0
    return grey * alpha + background * (1.0 - alpha)


def _border(g: np.ndarray) -> np.ndarray:
    """The outer ring (2% of the size, at least 1 px): where the background is."""
    h, w = g.shape
    k = max(1, round(0.02 * min(h, w)))
    return np.concatenate([g[:k].ravel(), g[-k:].ravel(), g[:, :k].ravel(), g[:, -k:].ravel()])


def _fit_box(crop: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` px, aspect kept (anti-aliased, as in MNIST)."""
    h, w = crop.shape
    s = box / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    resample = Image.Resampling.BOX if s < 1 else Image.Resampling.BILINEAR
    out = Image.fromarray(crop.astype(np.float32), mode="F").resize(size, resample)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _centre_by_mass(patch: np.ndarray) -> np.ndarray:
    """Paste into a 28x28 field with the centre of mass at the field's centre (kept inside)."""
    h, w = patch.shape
    total = float(patch.sum())
    ys, xs = np.indices(patch.shape)
    cy = float((ys * patch).sum() / total) if total > 0 else (h - 1) / 2
    cx = float((xs * patch).sum() / total) if total > 0 else (w - 1) / 2
    centre = FIELD / 2  # MNIST digits have their centre of mass at about (14, 14), not 13.5
    top = int(np.clip(round(centre - cy), 0, FIELD - h))
    left = int(np.clip(round(centre - cx), 0, FIELD - w))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top : top + h, left : left + w] = patch
    return field
