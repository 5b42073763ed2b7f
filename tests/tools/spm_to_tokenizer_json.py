#!/usr/bin/python3
"""Test helper: writes a tokenizer.json (BPE, the older normalizer spelling
Prepend("▁") + Replace(" ", "▁")) equivalent to a SentencePiece BPE tokenizer.model,
so that pv's tokenizer can be checked against Debian's spm_encode.

SentencePiece BPE merges the adjacent pair whose merged piece has the highest score,
leftmost first on ties. As merge ranks: pieces in order of decreasing score, each
with every split into two vocabulary pieces. Only whitespace pieces ("▁▁", "▁▁▁", ...
all scored -1e9 in LLaMA's model) tie; leftmost-first over a run of lone "▁" means the
left part grows greedily, so among them the merge with the longer left part ranks first.

Usage: spm_to_tokenizer_json.py tokenizer.model out.json [--metaspace-first]
(--metaspace-first writes the newer spelling instead: Metaspace, prepend_scheme "first")."""
import json
import struct
import sys

NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    """(field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, t = key >> 3, key & 7
        if t == 0:
            v, i = varint(b, i)
        elif t == 1:
            v, i = b[i:i + 8], i + 8
        elif t == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif t == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % t)
        yield f, t, v


def read_model(path):
    pieces = []
    for f, t, v in fields(open(path, "rb").read()):
        if f == 1 and t == 2:  # ModelProto.pieces
            piece, score, kind = None, 0.0, NORMAL
            for ff, tt, vv in fields(v):
                if ff == 1:
                    piece = vv.decode("utf-8")
                elif ff == 2:
                    score = struct.unpack("<f", vv)[0]
                elif ff == 3:
                    kind = vv
            pieces.append((piece, score, kind))
    return pieces


def main():
    model, out = sys.argv[1], sys.argv[2]
    metaspace = "--metaspace-first" in sys.argv[3:]
    pieces = read_model(model)
    vocab = {p: i for i, (p, _, _) in enumerate(pieces)}
    merges = []
    for i, (p, score, kind) in enumerate(pieces):
        if kind != NORMAL or len(p) < 2:
            continue
        whitespace = set(p) == {"\u2581"}
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            if a in vocab and b in vocab:
                order = (-score, -len(a) if whitespace else 0, i, k)
                merges.append((order, [a, b]))
    merges.sort(key=lambda m: m[0])
    special = {CONTROL, UNKNOWN}
    tj = {
        "version": "1.0",
        "added_tokens": [
            {"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, (p, _, kind) in enumerate(pieces) if kind in special],
        "normalizer": None if metaspace else {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "first", "split": False} if metaspace else None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [m for _, m in merges]},
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
