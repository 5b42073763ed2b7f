#!/usr/bin/python3
"""PyTorch CPU peer of pv-caption, for bench/caption.sh.

  caption_torch.py make-model DIR [--seed N]
      writes a random LLaVA-1.5-architecture model (LLaMA hidden 1024 x 8 layers, GQA 16/8
      heads; CLIP ViT 336/14, hidden 1024 x 6 layers) as a llava-hf folder: config.json,
      model.safetensors (F32, the fixture's tensor names), the fixture's tokenizer files.
  caption_torch.py run --model DIR --image PNG [--max-new-tokens N] [--threads N]
      preprocesses the image (Pillow: pad to square with the CLIP mean colour, bicubic,
      CLIP normalisation), runs CLIP + projector, prefills the llava_v1 prompt
      "Describe this image in detail." and decodes greedily with a KV cache, batch 1,
      in fp32 eager PyTorch; prints one JSON object (timings and generated ids).

The model (weights, CLIP, projector, LLaMA with a KV cache) is bench/torch_llava.py,
written out from the architecture, shared with bench/dpo_torch.py. The prompt ids are those of
the fixture (golden.json's ids_before_image, then the image tokens, then the fixture
prompt's ids after its image tokens), which is what pv-caption builds for that prompt.
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llava import Llava, make_model as write_random_model, preprocess, prompt_ids  # noqa: E402


def make_model(args):
    print(json.dumps({"params": write_random_model(args.dir, args.seed)}))


def run(args):
    import torch

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model = Llava(args.model)
    tc, vc = model.tc, model.vc
    ids = prompt_ids(model.n_image)
    cache = model.new_cache(len(ids) + args.max_new_tokens)
    embed = model.W["language_model.model.embed_tokens.weight"]

    t0 = time.perf_counter()
    feats = model.vision(torch.from_numpy(preprocess(args.image, vc["image_size"])))
    t1 = time.perf_counter()
    logits = model.logits(model.decoder(model.embed(ids, feats), 0, cache)[-1:])[0]
    t2 = time.perf_counter()
    out = []
    pos = len(ids)
    while len(out) < args.max_new_tokens:
        tok = int(torch.argmax(logits))
        if tok == tc.get("eos_token_id", 2):
            break
        out.append(tok)
        if len(out) == args.max_new_tokens:
            break
        logits = model.logits(model.decoder(embed[tok][None], pos, cache))[0]
        pos += 1
    t3 = time.perf_counter()
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "image_s": t1 - t0,
                      "prefill_tokens": len(ids), "prefill_s": t2 - t1, "decode_tokens": len(out),
                      "decode_s": t3 - t2, "tokens": out}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-model")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--image", required=True)
    r.add_argument("--max-new-tokens", type=int, default=32)
    r.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    make_model(args) if args.cmd == "make-model" else run(args)


if __name__ == "__main__":
    main()
