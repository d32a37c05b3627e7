"""Hostile and odd image files -> MNIST-style digits, or a clear ImageInputError."""

from __future__ import annotations

import base64
import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from vae_core.io.uploads import MAX_PIXELS, ImageInputError, load_user_image, mnist_preprocess


def digit(size: int = 112) -> np.ndarray:
    """A synthetic, asymmetric '7' (white on black, uint8) so rotations are detectable."""
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    w = max(2, size // 9)
    d.line([(size * 0.25, size * 0.2), (size * 0.75, size * 0.2)], fill=255, width=w)
    d.line([(size * 0.75, size * 0.2), (size * 0.4, size * 0.85)], fill=255, width=w)
    return np.asarray(img)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation after a slight blur: same digit despite 1-px shifts of 2-px strokes."""
    a, b = gaussian_filter(a, 1.0), gaussian_filter(b, 1.0)
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return load_user_image(encode(Image.fromarray(digit()), "PNG"))


def test_output_is_mnist_like(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.float32
    assert reference.min() >= 0.0 and reference.max() <= 1.0 and reference.max() > 0.9
    rows = np.flatnonzero(reference.any(1))
    cols = np.flatnonzero(reference.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20  # longer side in a 20 px box
    ys, xs = np.indices(reference.shape)
    cy = (ys * reference).sum() / reference.sum()
    cx = (xs * reference).sum() / reference.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1  # centre of mass at the centre
    assert reference[:2].sum() == 0 and reference[:, :2].sum() == 0  # black margins


def test_prepared_digit_is_a_fixed_point(reference):
    """A digit already prepared like MNIST (20 px box, centred) comes back nearly unchanged."""
    again = mnist_preprocess(reference)
    assert np.abs(again - reference).mean() < 0.02
    assert corr(again, reference) > 0.98


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 20, "not an image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not an image"),
    ],
)
def test_refuses_non_images(data, message):
    with pytest.raises(ImageInputError, match=message):
        load_user_image(data)


def test_refuses_truncated_png():
    data = encode(Image.fromarray(digit(200)), "PNG")
    with pytest.raises(ImageInputError, match="damaged or truncated"):
        load_user_image(data[: len(data) // 2])


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A valid PNG whose IHDR claims a huge size (a decompression bomb's header)."""
    data = encode(Image.new("L", (8, 8)), "PNG")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return data[:8] + patched + data[8 + 25 :]


@pytest.mark.parametrize("side", [100_000, 7_000])  # Pillow's bomb error, and our 40 MP limit
def test_refuses_decompression_bombs(side):
    assert side * side > MAX_PIXELS
    with pytest.raises(ImageInputError, match="pixels"):
        load_user_image(_png_with_declared_size(side, side))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own, at 89 MP
def test_refuses_huge_but_small_file():
    """10000x10000 of zeros compresses to ~100 KB but would decode to 100 MB: refused."""
    data = encode(Image.new("1", (10_000, 10_000), 0), "PNG")
    assert len(data) < 2_000_000
    with pytest.raises(ImageInputError, match="megapixels"):
        load_user_image(data)


@pytest.fixture(scope="module")
def png_10000() -> bytes:
    """A literal 10000x10000 PNG (1-bit zeros: ~15 KB on disk, 100 MB once decoded by Pillow)."""
    return encode(Image.new("1", (10_000, 10_000), 0), "PNG")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind", ["png-10000x10000", "bomb-100000x100000", "bomb-7000x7000"])
def test_huge_declared_sizes_are_refused_in_bounded_time_and_memory(kind, png_10000, monkeypatch):
    """Refused from the header alone: no pixel is decoded (Pillow's ``load`` never runs, which
    tracemalloc could not see), little Python memory, well under a second."""
    from PIL import ImageFile

    data = {
        "png-10000x10000": png_10000,
        "bomb-100000x100000": _png_with_declared_size(100_000, 100_000),
        "bomb-7000x7000": _png_with_declared_size(7_000, 7_000),
    }[kind]
    decoded: list[object] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(im) or real_load(im))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageInputError, match="pixels"):
            load_user_image(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded == [] and elapsed < 1.0 and peak < 8 * 2**20, (decoded, elapsed, peak)


def test_large_mostly_empty_image_is_processed(reference):
    """5000x5000 (25 MP, under the limit) with a small digit somewhere: found and centred."""
    img = Image.new("L", (5000, 5000), 0)
    img.paste(Image.fromarray(digit(300)), (3500, 700))
    out = load_user_image(encode(img, "PNG", compress_level=1))
    assert corr(out, reference) > 0.8  # reduced to 1024 px first, so rasterised differently
    ys, xs = np.indices(out.shape)
    assert abs((ys * out).sum() / out.sum() - 14) <= 1
    assert abs((xs * out).sum() / out.sum() - 14) <= 1


def test_light_background_is_inverted(reference):
    dark_ink = Image.fromarray(255 - digit())
    out = load_user_image(encode(dark_ink, "PNG"))
    assert out[0, 0] == 0.0  # background is black after the inversion
    assert corr(out, reference) > 0.95


def test_cmyk_jpeg(reference):
    ink = digit()
    cmyk = np.zeros((*ink.shape, 4), np.uint8)
    cmyk[..., 3] = ink  # black ink (K) on white paper
    out = load_user_image(encode(Image.fromarray(cmyk, mode="CMYK"), "JPEG", quality=95))
    assert corr(out, reference) > 0.9


def test_16_bit_png(reference):
    img16 = Image.fromarray(digit().astype(np.uint16) * 257)  # full 16-bit range
    data = encode(img16, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = load_user_image(data)
    assert corr(out, reference) > 0.95


def test_16_bit_png_low_values_are_not_saturated():
    """Values are scaled by 65535, not by their maximum: a faint image stays faint before
    the contrast stretch, and the digit is still found."""
    faint = Image.fromarray(digit().astype(np.uint16) * 40)  # max ~10000 of 65535
    out = load_user_image(encode(faint, "PNG"))
    assert out.max() > 0.9  # the contrast stretch brings the ink up


def test_float_tiff(reference):
    img = Image.fromarray(digit().astype(np.float32) / 255.0, mode="F")
    out = load_user_image(encode(img, "TIFF"))
    assert corr(out, reference) > 0.95


def test_palette_with_transparency(reference):
    """Black ink on a transparent palette background (a typical web logo): composited on white."""
    img = Image.new("P", (112, 112), 0)
    img.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)  # index 0 white-ish, 1 black
    mask = Image.fromarray(digit() > 127)
    img.paste(1, mask=mask)
    data = encode(img, "PNG", transparency=0)
    assert Image.open(io.BytesIO(data)).info.get("transparency") == 0
    out = load_user_image(data)
    assert corr(out, reference) > 0.9


@pytest.mark.parametrize("ink", [0, 255])
def test_rgba_transparent_background_either_ink(ink, reference):
    alpha = digit()
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., :3] = ink
    rgba[..., 3] = alpha
    out = load_user_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert corr(out, reference) > 0.95


def test_animated_gif_uses_first_frame(reference):
    first = Image.fromarray(digit())
    second = Image.fromarray(np.rot90(digit()).copy())
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = load_user_image(data)
    assert corr(out, reference) > 0.95


def test_exif_orientation_is_applied(reference):
    """Stored sideways with Orientation=6 (rotate 90° clockwise to display): shown upright."""
    stored = Image.fromarray(digit()).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    ignoring_exif = load_user_image(encode(stored, "JPEG", quality=95))
    out = load_user_image(data)
    assert corr(out, reference) > 0.9
    assert corr(out, reference) > corr(ignoring_exif, reference) + 0.3


@pytest.mark.parametrize("value", [0, 128, 255])
def test_blank_image_has_no_digit(value):
    with pytest.raises(ImageInputError, match="no digit"):
        load_user_image(encode(Image.new("L", (50, 50), value), "PNG"))


def test_fully_transparent_image():
    with pytest.raises(ImageInputError, match="transparent"):
        load_user_image(encode(Image.new("RGBA", (40, 40), (0, 0, 0, 0)), "PNG"))


def test_rejects_non_bytes():
    with pytest.raises(ImageInputError):
        load_user_image("picture.png")  # type: ignore[arg-type]


def test_jpeg_photo_of_paper(reference):
    """Grey paper with noise and dark grey ink (a phone photo): inverted, stretched, found."""
    rng = np.random.default_rng(0)
    paper = 200 + rng.normal(0, 6, (300, 400))
    ink = np.asarray(Image.fromarray(digit(200)).resize((200, 200))) / 255.0
    paper[50:250, 100:300] -= ink * 140
    img = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).convert("RGB")
    out = load_user_image(encode(img, "JPEG", quality=80))
    assert corr(out, reference) > 0.9


# --------------------------------------------------------------- draw canvas payloads
def _data_url(arr: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode(Image.fromarray(arr), "PNG")).decode()


def test_canvas_payloads(reference):
    from ui.draw_canvas import decode_canvas_png

    assert decode_canvas_png(None) is None
    assert decode_canvas_png("") is None
    assert decode_canvas_png(_data_url(np.zeros((280, 280), np.uint8))) is None  # blank canvas
    drawn = np.asarray(Image.fromarray(digit()).resize((280, 280)).convert("RGBA"))
    out = decode_canvas_png(_data_url(drawn))
    assert out is not None and out.shape == (28, 28) and corr(out, reference) > 0.95
    with pytest.raises(ImageInputError, match="data URL"):
        decode_canvas_png("data:text/html;base64,PGI+")
    with pytest.raises(ImageInputError, match="base64"):
        decode_canvas_png("data:image/png;base64,@@not base64@@")


def test_jpeg_bytes_round_trips_a_grey_picture():
    """The Latent sliders' traversal picture format: same size, grey, close to the original."""
    from vae_core.io.pictures import jpeg_bytes

    picture = np.zeros((90, 150), dtype=np.uint8)
    picture[20:70, 30:120] = 200  # a block with sharp edges, as the upscaled digit tiles have
    back = np.asarray(Image.open(io.BytesIO(jpeg_bytes(picture))))
    assert back.shape == picture.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - picture).mean() < 3


def test_refusals_say_what_the_app_reads_not_which_library_failed():
    with pytest.raises(ImageInputError) as info:
        load_user_image(b"hello, this is a text file\n" * 20)
    assert "Pillow" not in str(info.value) and "PNG, JPEG" in str(info.value)
