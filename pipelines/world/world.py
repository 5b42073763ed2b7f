#!/usr/bin/python3
"""The sample world: scenes of coloured shapes with known ground truth.

    world.py --split train|pref|test --n N --seed S --out DIR > records.jsonl

Draws N scenes as 64x64 PNG files under DIR/images/ and writes one record per scene
on standard output (see pv-records(5)):

    {"id": "test-00007", "image": "images/test-00007.png",
     "prompt": "Describe this image in detail.",
     "chosen": "There is a big red circle and a small blue star. The circle is at
                the top left and the star is at the bottom right.",
     "objects": ["circle", "star"]}

Image paths are relative to DIR (give the tools --image-root DIR).

A scene holds one to three different shapes, each with a colour, a size (small or
big) and a place: one of the four quarters of the image (top left, top right,
bottom left, bottom right), jittered by a few pixels.

The training and preference splits are deliberately biased: the shapes come in
partner pairs (moon and star, circle and square, cross and ring) and when a scene
holds one of a pair, its partner is added with probability 0.9. A model trained on
that text learns that "moon" is usually followed by "star" and mentions the star
when it is not there: the text-driven hallucination POVID targets. The test split
draws every shape independently, so such a habit shows up as CHAIR hallucinations.

Everything is drawn from Python's random.Random(seed + split), with the standard
library only (the PNG encoder is the twenty lines below), so a seed gives the same
files on every machine.
"""
import argparse
import json
import math
import os
import random
import struct
import sys
import zlib

SIZE = 64
BACKGROUND = (235, 235, 235)
SHAPES = ["circle", "square", "triangle", "diamond", "cross", "ring", "star", "moon"]
PARTNERS = {"moon": "star", "star": "moon", "circle": "square", "square": "circle",
            "cross": "ring", "ring": "cross"}
PARTNER_PROB = 0.9
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
           "yellow": (230, 200, 30)}
SIZES = {"small": 7.0, "big": 11.0}   # radius in pixels
PLACES = {"top left": (16, 16), "top right": (48, 16),
          "bottom left": (16, 48), "bottom right": (48, 48)}
PROMPT = "Describe this image in detail."


def write_png(path, rgb_rows):
    """8-bit RGB PNG, filter 0 on every row; written to a temporary name first."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    raw = b"".join(b"\x00" + bytes(row) for row in rgb_rows)
    ihdr = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def inside(shape, dx, dy, r):
    """Whether the point (dx, dy) from the centre lies in a shape of radius r."""
    ax, ay = abs(dx), abs(dy)
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return ax <= r * 0.8 and ay <= r * 0.8
    if shape == "triangle":  # apex up
        return -r <= dy <= r * 0.8 and ax <= (dy + r) * 0.55
    if shape == "diamond":
        return ax + ay <= r
    if shape == "cross":
        return (ax <= r * 0.3 and ay <= r) or (ay <= r * 0.3 and ax <= r)
    if shape == "ring":
        d = dx * dx + dy * dy
        return (r * 0.55) ** 2 <= d <= r * r
    if shape == "star":  # five points: radius varies with the angle
        a = math.atan2(dy, dx) + math.pi / 2
        k = (a / (2 * math.pi / 5)) % 1.0
        edge = r * (0.45 + 0.55 * abs(1 - 2 * k))
        return dx * dx + dy * dy <= edge * edge
    if shape == "moon":  # a disc minus a disc shifted right
        return dx * dx + dy * dy <= r * r and (dx - r * 0.5) ** 2 + dy * dy > (r * 0.8) ** 2
    raise ValueError(shape)


def pick_shapes(rng, split):
    n = rng.choice([1, 2, 2, 3, 3])
    shapes = []
    while len(shapes) < n:
        s = rng.choice(SHAPES)
        if s in shapes:
            continue
        shapes.append(s)
        partner = PARTNERS.get(s)
        if (split != "test" and partner and partner not in shapes and len(shapes) < 3
                and rng.random() < PARTNER_PROB):
            shapes.append(partner)
    return shapes[:3]


def scene(rng, split):
    shapes = pick_shapes(rng, split)
    places = rng.sample(sorted(PLACES), len(shapes))
    objs = []
    for shape, place in zip(shapes, places):
        cx, cy = PLACES[place]
        objs.append({"shape": shape, "place": place, "colour": rng.choice(sorted(COLOURS)),
                     "size": rng.choice(sorted(SIZES)),
                     "x": cx + rng.randint(-3, 3), "y": cy + rng.randint(-3, 3)})
    # Described in reading order, so the text order does not give the pairing away.
    objs.sort(key=lambda o: (PLACES[o["place"]][1], PLACES[o["place"]][0]))
    return objs


def draw(objs):
    rows = [[c for _ in range(SIZE) for c in BACKGROUND] for _ in range(SIZE)]
    for o in objs:
        r, col = SIZES[o["size"]], COLOURS[o["colour"]]
        for y in range(max(0, int(o["y"] - r - 1)), min(SIZE, int(o["y"] + r + 2))):
            row = rows[y]
            for x in range(max(0, int(o["x"] - r - 1)), min(SIZE, int(o["x"] + r + 2))):
                if inside(o["shape"], x + 0.5 - o["x"], y + 0.5 - o["y"], r):
                    row[3 * x:3 * x + 3] = col
    return rows


def join(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(objs, rng):
    """One sentence listing the objects, one placing them. A list is also where
    pv-hallucinate inserts a co-occurring object ("a moon and a star" becomes "a moon,
    a star and a circle"), so the rejected responses hallucinate where the model does."""
    things = join(["a %s %s %s" % (o["size"], o["colour"], o["shape"]) for o in objs])
    places = join(["the %s is at the %s" % (o["shape"], o["place"]) for o in objs])
    return "There is %s. %s." % (things, places[0].upper() + places[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["train", "pref", "test"], required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="folder for images/")
    args = ap.parse_args()
    rng = random.Random("%d/%s" % (args.seed, args.split))
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    out = sys.stdout
    for i in range(args.n):
        objs = scene(rng, args.split)
        rid = "%s-%05d" % (args.split, i)
        image = "images/%s.png" % rid
        write_png(os.path.join(args.out, image), draw(objs))
        rec = {"id": rid, "image": image, "prompt": PROMPT, "chosen": describe(objs, rng),
               "objects": sorted(o["shape"] for o in objs)}
        out.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
