"""A small ImageFolder-style .zip drawn with PIL, for the browser test and the screenshot of the
Train page's import: a few pictures per class, each class a different shape."""

from __future__ import annotations

import io
import zipfile

from PIL import Image, ImageDraw

SHAPES = ("circles", "squares", "crosses")


def shape_picture(kind: str, i: int, size: int = 48) -> Image.Image:
    """A white shape on black whose form is the class, its place and size varied by ``i``."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    o, r = 4 + 3 * (i % 3), 14 + 2 * (i % 4)
    box = (o, o, o + 2 * r, o + 2 * r)
    if kind == "circles":
        draw.ellipse(box, outline=255, width=5)
    elif kind == "squares":
        draw.rectangle(box, fill=230)
    else:
        draw.line((box[0], box[1], box[2], box[3]), fill=255, width=6)
        draw.line((box[0], box[3], box[2], box[1]), fill=255, width=6)
    return img


def class_folder_zip(classes: tuple[str, ...] = SHAPES, per_class: int = 5) -> bytes:
    """``<class>/<i>.png`` for every class, as the bytes of a .zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for kind in classes:
            for i in range(per_class):
                png = io.BytesIO()
                shape_picture(kind, i).save(png, format="PNG")
                zf.writestr(f"{kind}/{i}.png", png.getvalue())
    return buf.getvalue()
