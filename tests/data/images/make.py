#!/usr/bin/python3
"""Writes the decoder test images of tests/data/images with Pillow, and beside each
X.png / X.jpg the pixels a decoder must produce as X.rgb (raw 8-bit RGB rows).
Expected pixels come from Pillow's convert("RGB") (what LLaVA's loader uses),
except for 16-bit input where Pillow clips instead of scaling: there the
expectation is round(v * 255 / 65535) computed here in numpy."""
import os
import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
W, H = 13, 9


def save(img, name, expect, **kw):
    img.save(os.path.join(here, name), **kw)
    if expect is None:  # decode what was written, as LLaVA does
        expect = np.asarray(Image.open(os.path.join(here, name)).convert("RGB"))
    with open(os.path.join(here, os.path.splitext(name)[0] + ".rgb"), "wb") as f:
        f.write(np.ascontiguousarray(expect, dtype=np.uint8).tobytes())


rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
save(Image.fromarray(rgb), "rgb.png", rgb)
grey = rng.integers(0, 256, (H, W), dtype=np.uint8)
save(Image.fromarray(grey, "L"), "grey.png", np.stack([grey] * 3, -1))
bits = rng.integers(0, 2, (H, W)).astype(bool)
save(Image.fromarray(bits), "grey1.png", np.stack([bits * 255] * 3, -1))
rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
save(Image.fromarray(rgba, "RGBA"), "rgba.png", rgba[..., :3])
la = rng.integers(0, 256, (H, W, 2), dtype=np.uint8)
save(Image.fromarray(la, "LA"), "grey_alpha.png", np.stack([la[..., 0]] * 3, -1))
pal = Image.fromarray(rgb).quantize(colors=16)
save(pal, "palette.png", None)
palt = pal.copy()
palt.info["transparency"] = 3
save(palt, "palette_trns.png", None, transparency=3)
g16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
save(Image.fromarray(g16, "I;16"), "grey16.png", np.stack([np.round(g16 / 257.0)] * 3, -1))
save(Image.fromarray(rgb).convert("L"), "grey_jpeg.jpg", None, quality=90)
save(Image.fromarray(rgb), "progressive.jpg", None, quality=85, progressive=True)
cmyk = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
save(Image.fromarray(cmyk, "CMYK"), "cmyk_jpeg.jpg", None, quality=90)
