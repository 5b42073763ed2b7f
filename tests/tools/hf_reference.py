#!/usr/bin/env python3
"""Writes tests/data/tokenizer/hf-tokenizers.jsonl: what Hugging Face `tokenizers`
(the library transformers runs) gives for seeded strings with the fixture's
tokenizer.json as it is ("first") and in the variants of tokenizer_variant.py: ids
of tokenizer(text) (with <s>) and decode(ids) (specials kept). Needs a Python with
`tokenizers` (pip install tokenizers); run once, the output is committed.

Usage: hf_reference.py FIXTURE/tokenizer.json OUT.jsonl"""
import json
import os
import random
import subprocess
import sys

from tokenizers import Tokenizer

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import tokenizer_variant  # noqa: E402


def texts():
    gen = subprocess.run(["/usr/bin/python3", os.path.join(here, "gen_strings.py"), "11", "200"],
                         capture_output=True, check=True).stdout.decode("utf-8").split("\n")[:-1]
    r = random.Random(12)
    specials = ["<s>", "</s>", "<unk>", "<image>", "<pad>", " <image> ", "<image>\n", "<s> ", " </s>", "\n"]
    extra = ["<x>", " <x> ", "foo bar", "xfoo bar", " <y> ", "<y>", "<z>", " <z> ", "a<z>",
             "\u2014<z>", "\u00b2<z>", "\u00e9<z>"]
    out = gen[:100]
    for s in gen[100:]:
        parts = []
        for _ in range(r.randint(1, 4)):
            parts.append(r.choice(specials + extra))
            parts.append(s[:r.randint(0, len(s))])
        out.append("".join(parts[r.randint(0, 1):]))
    return out


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        t = json.load(f)
    variants = [("first", Tokenizer.from_str(json.dumps(t)))]
    for kind in ("legacy", "legacy-normalized", "first-extra"):
        variants.append((kind, Tokenizer.from_str(json.dumps(tokenizer_variant.variant(t, kind)))))
    import tokenizers
    with open(dst, "w", encoding="utf-8") as f:
        f.write(json.dumps({"tokenizers": tokenizers.__version__,
                            "variants": [name for name, _ in variants]}) + "\n")
        for s in texts():
            rec = {"text": s}
            for name, tok in variants:
                ids = tok.encode(s).ids
                rec[name] = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
