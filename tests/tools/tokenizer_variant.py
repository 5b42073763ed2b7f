#!/usr/bin/python3
"""Test helper: rewrites a LLaMA tokenizer.json (Metaspace pre-tokenizer) into a
variant, for checks against Hugging Face tokenizers' recorded output.
  legacy             the older spelling of the leading-space rule: normalizer
                     Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer (llava-hf's
                     first tokenizer.json files)
  legacy-normalized  legacy, every added token "normalized" (matched in normalized
                     text), plus added tokens <x>, "foo bar", <y> (lstrip, rstrip)
                     and <z> (single_word)
  first-extra        the file as it is plus those extra added tokens
Usage: tokenizer_variant.py IN.json OUT.json VARIANT"""
import json
import sys

EXTRA = [("<x>", {}), ("foo bar", {}), ("<y>", {"lstrip": True, "rstrip": True}),
         ("<z>", {"single_word": True, "special": True})]


def legacy(t):
    t = dict(t)
    t["pre_tokenizer"] = None
    t["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    return t


def with_extra(t, normalized):
    t = dict(t)
    added = [dict(a, normalized=True) if normalized else dict(a) for a in t["added_tokens"]]
    next_id = max(max(t["model"]["vocab"].values()), max(a["id"] for a in added)) + 1
    for k, (content, flags) in enumerate(EXTRA):
        tok = {"id": next_id + k, "content": content, "single_word": False, "lstrip": False,
               "rstrip": False, "normalized": True, "special": False}
        tok.update(flags)
        added.append(tok)
    t["added_tokens"] = added
    return t


def variant(t, kind):
    if kind == "legacy":
        return legacy(t)
    if kind == "legacy-normalized":
        return with_extra(legacy(t), True)
    if kind == "first-extra":
        return with_extra(t, False)
    raise SystemExit("unknown variant " + kind)


if __name__ == "__main__":
    src, dst, kind = sys.argv[1:4]
    with open(src, encoding="utf-8") as f:
        t = json.load(f)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(variant(t, kind), f, ensure_ascii=False)
