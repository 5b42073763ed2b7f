#!/usr/bin/python3
"""Test helper: prints N seeded random strings, one a line, for the tokenizer's
differential test against spm_encode: ASCII words, punctuation, digits, runs of
spaces and tabs (leading and trailing too), accented Latin (precomposed and
combining), CJK, Hangul, Cyrillic, Arabic, Devanagari, emoji (with ZWJ sequences,
skin tones, flags), rare code points, and control bytes. No newline (spm_encode
reads lines) and never the text of a special token such as "<s>".

Usage: gen_strings.py SEED N"""
import random
import sys

WORDS = ("the a image shows red bus parked next to tree on quiet street dog two people "
         "waiting hydrant Describe this in detail assistant USER ASSISTANT question answer "
         "blue green 12 3.5 1999 don't it's e.g. U.S.A. http://example.com/x?y=1 "
         "foo_bar camelCase ALLCAPS x1y2 naïve café résumé Zürich").split()
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "--", "—", "–", "“", "”", "«", "»", "…", "·"]
ACCENTS = list("éèêëàâäáãåçñöôòóõøüûùúıłśźżčšžğőűÿßæœÉÀÇÑÖÜ") + ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323"]
CJK = list("中文字我你他的是在有人大小上下日本語漢字東京學習龍鬱") + list("ひらがなカタカナ")
OTHER = list("한국어안녕하세요") + list("привет мир") + list("مرحبا") + list("नमस्ते") + list("ελληνικά")
EMOJI = ["😀", "😂", "🚌", "🌳", "🐶", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🤖", "🧑🏿‍🚀", "✨", "🥲", "𝔘𝔫𝔦"]
RARE = ["\u00a0", "\u200b", "\u2028", "\ufeff", "\U0001f9ea", "\U00010348", "\u0378", "\ue000", "\U000e0041", "\u3000", "\u2581", "\u2581\u2581"]
CONTROL = [chr(c) for c in list(range(1, 10)) + [11, 12] + list(range(14, 32)) + [127]]
SPECIAL = ("<unk>", "<s>", "</s>")


def piece(r):
    k = r.random()
    if k < 0.35:
        return r.choice(WORDS)
    if k < 0.45:
        return r.choice(PUNCT)
    if k < 0.52:
        return str(r.randrange(10 ** r.randint(1, 8)))
    if k < 0.60:
        return r.choice(ACCENTS) * r.randint(1, 3)
    if k < 0.67:
        return "".join(r.choice(CJK) for _ in range(r.randint(1, 6)))
    if k < 0.72:
        return "".join(r.choice(OTHER) for _ in range(r.randint(1, 6)))
    if k < 0.79:
        return r.choice(EMOJI)
    if k < 0.83:
        return r.choice(RARE)
    if k < 0.88:
        return r.choice(CONTROL)
    if k < 0.95:
        return " " * r.randint(2, 20)
    return "\t" * r.randint(1, 3)


def line(r):
    parts = []
    if r.random() < 0.15:
        parts.append(" " * r.randint(1, 4))
    for _ in range(r.randint(1, 14)):
        parts.append(piece(r))
        parts.append(" " if r.random() < 0.7 else "")
    if r.random() < 0.7 and parts[-1] == " ":
        parts.pop()
    return "".join(parts)


def main():
    seed, n = int(sys.argv[1]), int(sys.argv[2])
    r = random.Random(seed)
    out = []
    while len(out) < n:
        s = line(r)
        if s and not any(t in s for t in SPECIAL):
            out.append(s)
    sys.stdout.buffer.write(("\n".join(out) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
