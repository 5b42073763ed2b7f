#!/usr/bin/env python3
"""Writes tests/data/tokenizer/hf-tokenizers.jsonl: what Hugging Face `tokenizers`
(the library transformers runs) gives for seeded strings with the fixture's
tokenizer.json and with its older-spelling variant (tokenizer_variant.py): ids of
tokenizer(text) (with <s>) and decode(ids) (specials kept). Needs a Python with
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
    gen = subprocess.run(["/usr/bin/python3", os.path.join(here, "gen_strings.py"), "11", "300"],
                         capture_output=True, check=True).stdout.decode("utf-8").split("\n")[:-1]
    r = random.Random(12)
    specials = ["<s>", "</s>", "<unk>", "<image>", "<pad>", " <image> ", "<image>\n", "<s> ", " </s>", "\n"]
    out = gen[:150]
    for s in gen[150:]:
        parts = []
        for _ in range(r.randint(1, 4)):
            parts.append(r.choice(specials))
            parts.append(s[:r.randint(0, len(s))])
        out.append("".join(parts[r.randint(0, 1):]))
    return out


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        t = json.load(f)
    first = Tokenizer.from_str(json.dumps(t))
    legacy = Tokenizer.from_str(json.dumps(tokenizer_variant.legacy(t)))
    import tokenizers
    with open(dst, "w", encoding="utf-8") as f:
        f.write(json.dumps({"tokenizers": tokenizers.__version__}) + "\n")
        for s in texts():
            rec = {"text": s}
            for name, tok in (("first", first), ("legacy", legacy)):
                ids = tok.encode(s).ids
                rec[name] = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
