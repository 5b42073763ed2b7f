#!/usr/bin/python3
"""Plain-Python peer of pv-score's CHAIR and POPE, and input generators for bench/score.sh.

  score_ref.py chair FILE [--field caption]    CHAIR summary of JSONL records with `objects`
  score_ref.py pope FILE                        POPE summary (overall)
  score_ref.py gen-captions N SEED > FILE       N synthetic description records
  score_ref.py gen-pope N SEED > FILE           N POPE question records with answers
  score_ref.py gen-instances MB SEED > FILE     an instances_*.json look-alike of about MB megabytes
  score_ref.py gen-tricky N SEED > FILE         N texts of lexicon words in odd forms (a differential test)

The CHAIR computation is the same as pv-score's (lib/words.c, lib/lexicon.c), written the
straightforward Python way: the same lexicon (read from lib/lexicon_data.c), tokeniser, the
common singular rules and CHAIR's special phrases. Its output is compared with pv-score's in
the bench, so the two must agree on the generated data.
"""
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# ---- lexicon ---------------------------------------------------------------------------


def builtin_lines():
    """The category lines of lib/lexicon_data.c (adjacent C string literals joined)."""
    src = (ROOT / "lib" / "lexicon_data.c").read_text()
    body = src[src.index("pv_lexicon_builtin_lines[] = {"):]
    lines, cur = [], ""
    for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|(,)|(NULL)', body):
        if tok.group(1) is not None:
            cur += tok.group(1)
        elif tok.group(2):
            if cur:
                lines.append(cur)
            cur = ""
        else:
            break
    return lines


IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
             "geese": "goose", "teeth": "tooth", "feet": "foot", "oxen": "ox", "knives": "knife",
             "leaves": "leaf", "wolves": "wolf", "calves": "calf", "lives": "life", "shelves": "shelf",
             "thieves": "thief", "lenses": "lens", "gases": "gas", "axes": "axe", "busses": "bus"}
KEEP = {"sheep", "deer", "fish", "series", "species", "news", "scissors", "pants", "jeans", "shorts",
        "clothes", "glasses_", "its", "yes", "always", "perhaps", "lens", "gas", "canvas", "this", "his",
        "was", "has", "as", "is", "us", "sunglasses", "goggles", "means"}
IE = {"cookie", "movie", "brownie", "collie", "doggie", "necktie", "tie", "pie", "selfie", "hoodie",
      "goalie", "zombie", "beanie", "magpie", "smoothie", "veggie", "genie", "budgie"}
I_NOUNS = {"ski", "taxi", "kiwi", "bikini", "martini", "salami", "zucchini", "sushi", "broccoli"}
OE = {"shoe", "toe", "canoe", "hoe", "oboe", "foe", "horseshoe", "snowshoe"}
USE = {"blouse", "mouse", "cause", "spouse", "pause", "fuse", "use", "excuse", "house"}
U_NOUNS = {"menu", "emu", "guru", "tutu", "zebu", "tofu", "haiku", "gnu", "tiramisu", "bayou", "caribou"}
CHE = {"ache", "headache", "toothache", "cache", "niche", "avalanche", "quiche", "mustache", "moustache"}


def singular(w):
    if "-" in w[:-1]:
        head, _, tail = w.rpartition("-")
        return head + "-" + singular(tail)
    if len(w) < 3:
        return w
    if w in IRREGULAR:
        return IRREGULAR[w]
    for plural, sing in (("women", "woman"), ("children", "child"), ("knives", "knife")):
        if w.endswith(plural):
            return w[:-len(plural)] + sing
    if w.endswith("men") and len(w) >= 6 and w not in ("specimen", "abdomen", "regimen"):
        return w[:-3] + "man"
    if not w.endswith("s") or w in KEEP or w.endswith("ss"):
        return w
    if w.endswith("us"):
        return w[:-1] if w[:-1] in U_NOUNS else w
    if w.endswith("is"):
        return w[:-1] if w[:-1] in I_NOUNS else w
    if w.endswith("ies"):
        return w[:-1] if len(w) == 4 or w[:-1] in IE else w[:-3] + "y"
    if w.endswith("oes"):
        return w[:-1] if w[:-1] in OE else w[:-2]
    if w.endswith("sses"):
        return w[:-2]
    if w.endswith("uses"):
        return w[:-1] if w.endswith("houses") or w[:-1] in USE else w[:-2]
    if w.endswith("xes") or w.endswith("zzes"):
        return w[:-2]
    if w.endswith("ches"):
        return w[:-1] if w[:-1] in CHE else w[:-2]
    if w.endswith("shes"):
        return w[:-2]
    return w[:-1]


WORD = re.compile(r"[A-Za-z0-9\x80-\U0010ffff]+(?:-[A-Za-z0-9\x80-\U0010ffff]+)*")


def words(text):
    return WORD.findall(text)


def normalize(phrase):
    return " ".join(singular(w.lower()) for w in words(phrase))


class Lexicon:
    def __init__(self, lines):
        self.names, self.phrase = [], {}
        for line in lines:
            entries = [e.strip().lower() for e in line.split(",")]
            entries = [e for e in entries if e]
            cat = len(self.names)
            self.names.append(entries[0])
            for e in entries:
                self.phrase[normalize(e)] = cat
        by_name = {n: i for i, n in enumerate(self.names)}
        keys = list(self.phrase.items())
        for animal in ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"):
            for k, c in keys:
                if c == by_name.get(animal):
                    self.phrase["baby " + k] = c
                    self.phrase["adult " + k] = c
        for vehicle in ("airplane", "train", "bus", "boat"):
            for k, c in keys:
                if c == by_name.get(vehicle):
                    self.phrase["passenger " + k] = c
        for k in ("baby animal", "adult animal", "baby cub", "adult cub", "train track", "home plate"):
            self.phrase[k] = -1
        self.phrase["bow tie"] = by_name["tie"]
        self.phrase["toilet seat"] = by_name["toilet"]
        self.toilet = by_name["toilet"]
        self.longest = max(len(k.split()) for k in self.phrase)

    def lookup(self, phrase):
        c = self.phrase.get(normalize(phrase), -1)
        return c

    def mentions(self, text):
        ws = [singular(w.lower()) for w in words(text)]
        out, i = [], 0
        while i < len(ws):
            for k in range(min(self.longest, len(ws) - i), 0, -1):
                key = " ".join(ws[i:i + k])
                if key in self.phrase:
                    if self.phrase[key] >= 0:
                        out.append((self.phrase[key], key == "seat"))
                    i += k
                    break
            else:
                i += 1
        toilet = any(c == self.toilet for c, _ in out)
        return [c for c, seat in out if not (seat and toilet)], len(ws)


def chair(path, field):
    lex = Lexicon(builtin_lines())
    n = hal_recs = mentions = hal = gt_total = recalled_total = nwords = 0
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        rec = json.loads(line)
        gt = {lex.lookup(o) for o in rec["objects"]} - {-1}
        found, count = lex.mentions(rec[field])
        h = sum(1 for c in found if c not in gt)
        n += 1
        hal_recs += h > 0
        mentions += len(found)
        hal += h
        gt_total += len(gt)
        recalled_total += len(gt & set(found))
        nwords += count
    ratio = lambda a, b: a / b if b else None
    return {"metric": "chair", "n": n, "chair_s": ratio(hal_recs, n), "chair_i": ratio(hal, mentions),
            "recall": ratio(recalled_total, gt_total), "mean_words": ratio(nwords, n), "mentions": mentions,
            "hallucinated_mentions": hal, "hallucinated_records": hal_recs, "gt_objects": gt_total,
            "recalled_objects": recalled_total}


def pope(path):
    tp = fp = tn = fn = 0
    for line in open(path, encoding="utf-8"):
        rec = json.loads(line)
        text = rec["answer"]
        if text.find(".") != -1:
            text = text.split(".")[0]
        pieces = text.replace(",", "").split(" ")
        yes = not ("No" in pieces or "not" in pieces or "no" in pieces)
        label = rec["label"] != "no"
        tp += yes and label
        fp += yes and not label
        tn += not yes and not label
        fn += not yes and label
    n = tp + fp + tn + fn
    p, r = tp / (tp + fp), tp / (tp + fn)
    return {"metric": "pope", "group": None, "n": n, "accuracy": (tp + tn) / n, "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r), "yes_ratio": (tp + fp) / n, "tp": tp, "fp": fp, "tn": tn, "fn": fn}


# ---- generators ---------------------------------------------------------------------------

SUBJECTS = ["A man", "A woman", "Two children", "A young girl", "An old man", "A group of people", "A dog",
            "A black cat", "Three sheep", "A brown horse", "A baby elephant", "Two giraffes", "A skier",
            "A surfer", "A chef", "A little boy"]
VERBS = ["is sitting next to", "stands beside", "is holding", "walks past", "looks at", "plays with",
         "is leaning against", "rests near"]
OBJECTS = ["a wooden bench", "a red umbrella", "a laptop", "two cell phones", "a bowl of broccoli",
           "a pizza", "a teddy bear", "some bottles", "a parked car", "a city bus", "the dining table",
           "a couch", "a potted plant", "several books", "a clock", "a vase of flowers", "a toilet seat",
           "a bicycle", "a surfboard", "a pair of skis", "a frisbee", "a fire hydrant", "a stop sign",
           "a kite", "a hot dog", "a wine glass", "a backpack", "some knives", "the refrigerator",
           "a microwave", "a passenger train", "boxes", "glasses", "the grass", "a tree", "the sky"]
PLACES = ["in a sunny park", "on a busy street", "inside a small kitchen", "near the beach",
          "in a living room", "at the train station", "under a blue sky", "in the snow"]
CATS = ["person", "dog", "cat", "sheep", "horse", "elephant", "giraffe", "bench", "umbrella", "laptop",
        "cell phone", "bowl", "broccoli", "pizza", "teddy bear", "bottle", "car", "bus", "dining table",
        "couch", "potted plant", "book", "clock", "vase", "toilet", "bicycle", "surfboard", "skis", "frisbee"]


def gen_captions(n, seed):
    rnd = random.Random(seed)
    for i in range(n):
        sents = []
        for _ in range(rnd.randint(2, 4)):
            sents.append("%s %s %s %s." % (rnd.choice(SUBJECTS), rnd.choice(VERBS), rnd.choice(OBJECTS),
                                           rnd.choice(PLACES)))
        objs = rnd.sample(CATS, rnd.randint(2, 6))
        print(json.dumps({"id": "b%06d" % i, "image": "COCO_val2014_%012d.jpg" % (100000 + i),
                          "caption": " ".join(sents), "objects": objs}))


def gen_pope(n, seed):
    rnd = random.Random(seed)
    answers = ["Yes, there is a %s in the image.", "No, there is no %s in the image.", "Yes", "No",
               "There is not a %s in the image.", "I can see a %s on the left. No other objects."]
    for i in range(n):
        obj = rnd.choice(CATS)
        ans = rnd.choice(answers)
        print(json.dumps({"question_id": i + 1, "image": "COCO_val2014_%012d.jpg" % (i // 6),
                          "text": "Is there a %s in the image?" % obj, "label": rnd.choice(["yes", "no"]),
                          "answer": ans % obj if "%s" in ans else ans}))


def gen_tricky(n, seed):
    """Texts made of every lexicon word in many inflections and cases, glued by
    spaces, hyphens and punctuation: a differential test of the two tokenisers and
    singularisers."""
    rnd = random.Random(seed)
    lex = Lexicon(builtin_lines())
    forms = set()
    for k in lex.phrase:
        for w in k.split():
            forms.update((w, w + "s", w + "es", w + "ses", w[:-1] + "ies", w[:-1] + "ves", w.upper(),
                          w.capitalize() + "s"))
    forms.update(("men", "mice", "geese", "teeth", "feet", "people", "children", "women", "oxen", "knives",
                  "wives", "policemen", "busses", "zebus", "menus", "glasses", "grass", "x" * 70, "caf\u00e9",
                  "baby", "adult", "passenger", "toilet", "seat", "train", "track", "home", "plate"))
    forms = sorted(forms)
    for _ in range(n):
        text = "".join(rnd.choice(forms) + rnd.choice([" ", " ", "-", ", ", ". ", "'s "])
                       for _ in range(rnd.randint(0, 60)))
        print(json.dumps({"caption": text, "objects": rnd.sample(forms, 3)}))


def gen_instances(megabytes, seed):
    """Writes a COCO instances look-alike whose bulk is polygon coordinates."""
    rnd = random.Random(seed)
    out = sys.stdout
    nimg = 5000
    out.write('{"info": {"description": "synthetic", "year": 2014}, "images": [')
    out.write(", ".join('{"file_name": "COCO_train2014_%012d.jpg", "height": 480, "width": 640, "id": %d}'
                        % (i, i) for i in range(1, nimg + 1)))
    out.write('], "licenses": [], "annotations": [')
    size, aid, first = 0, 0, True
    target = megabytes * 1_000_000
    while size < target:
        aid += 1
        pts = ", ".join("%.2f" % (rnd.random() * 640) for _ in range(2 * rnd.randint(50, 400)))
        ann = ('{"segmentation": [[%s]], "area": %.1f, "iscrowd": 0, "image_id": %d, '
               '"bbox": [1.0, 2.0, 3.0, 4.0], "category_id": %d, "id": %d}'
               % (pts, rnd.random() * 1e4, rnd.randint(1, nimg), rnd.randint(1, 90), aid))
        out.write(("" if first else ", ") + ann)
        first = False
        size += len(ann) + 2
    coco_ids = [i for i in range(1, 91)]
    lex = Lexicon(builtin_lines())
    out.write('], "categories": [')
    out.write(", ".join('{"supercategory": "x", "id": %d, "name": "%s"}' % (cid, lex.names[(cid - 1) % 80])
                        for cid in coco_ids))
    out.write("]}\n")


def main():
    cmd = sys.argv[1]
    if cmd == "chair":
        field = sys.argv[sys.argv.index("--field") + 1] if "--field" in sys.argv else "caption"
        print(json.dumps(chair(sys.argv[2], field)))
    elif cmd == "pope":
        print(json.dumps(pope(sys.argv[2])))
    elif cmd == "gen-captions":
        gen_captions(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "gen-pope":
        gen_pope(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "gen-tricky":
        gen_tricky(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "gen-instances":
        gen_instances(float(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
