#!/usr/bin/python3
"""Test helper: rewrites a LLaMA tokenizer.json (Metaspace pre-tokenizer) into the
older spelling of the same leading-space rule: normalizer Prepend("▁") +
Replace(" ", "▁"), no pre-tokenizer (what llava-hf's first tokenizer.json files
used). Usage: tokenizer_variant.py IN.json OUT.json legacy"""
import json
import sys


def legacy(t):
    t = dict(t)
    t["pre_tokenizer"] = None
    t["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    return t


if __name__ == "__main__":
    src, dst, kind = sys.argv[1:4]
    if kind != "legacy":
        sys.exit("unknown variant " + kind)
    with open(src, encoding="utf-8") as f:
        t = json.load(f)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(legacy(t), f, ensure_ascii=False)
