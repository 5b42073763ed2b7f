#!/usr/bin/python3
"""Builds the sample world's tokenizer.json: a LLaMA-style BPE vocabulary for its words.

    make_tokenizer.py WORDS.txt > tokenizer.json

WORDS.txt holds the words, one a line (pipelines/world/words.txt). The result is the
tokenizer.json layout of the llava-hf models, which lib/tokenizer.c reads unchanged:

  ids 0..2        <unk> <s> </s>
  ids 3..258      byte fallback pieces <0x00>..<0xFF> (any text can be encoded)
  then            "▁", printable ASCII characters, and for every word its "▁"-prefixed
                  prefixes "▁w", "▁wo", ..., "▁word"
  last two ids    <image> and <pad>, added special tokens

Merges grow each word from the left: ("▁", "w"), ("▁w", "o"), ... Every merge has a
left side that starts with "▁", and only the first piece of a word does, so a word in
the list always becomes one piece and a word outside it becomes its longest listed
prefix followed by single characters. The pre-tokenizer is Metaspace with
prepend_scheme "first", as in the llava-1.5 tokenizer.json files.
"""
import json
import sys

SPACE = "\u2581"


def main():
    words = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            w = line.strip()
            if w and w not in words:
                words.append(w)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)

    def add(piece):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    add(SPACE)
    for c in range(0x21, 0x7F):
        add(chr(c))
    merges, seen = [], set()
    for w in words:
        piece = SPACE
        for ch in w:
            pair = (piece, ch)
            piece += ch
            if pair not in seen:
                seen.add(pair)
                merges.append([pair[0], pair[1]])
            add(piece)
    image_id, pad_id = len(vocab), len(vocab) + 1

    def special(content, i):
        return {"id": i, "content": content, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": False, "special": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special("<unk>", 0), special("<s>", 1), special("</s>", 2),
                         special("<image>", image_id), special("<pad>", pad_id)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": SPACE,
                          "prepend_scheme": "first", "split": False},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    json.dump(tok, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    print("make_tokenizer: %d words, %d pieces, <image> %d, <pad> %d"
          % (len(words), len(vocab), image_id, pad_id), file=sys.stderr)


if __name__ == "__main__":
    main()
