#!/usr/bin/python3
"""PyTorch CPU peer of pv-dpo, for bench/dpo.sh: the same DPO step, in eager fp32 autograd.

  dpo_torch.py make-adapter DIR --model M [--r R] [--alpha A] [--seed N]
      writes a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors) on
      q,k,v,o,gate,up,down of every decoder layer of M: A uniform in +-1/sqrt(in) as peft
      initialises it, B normal with std 0.05/sqrt(r) instead of peft's zeros, so that the
      policy differs from the reference and the first loss is not log 2.
  dpo_torch.py run --model M --pairs FILE [--adapter DIR] [--stage 1|2] [--beta B]
                   [--noise-weight W] [--lr LR] [--projector-lr LR] [--max-grad-norm N]
                   [--threads N]
      one optimiser step per pair of FILE (JSONL: "image" and, for stage 2, "noisy_image":
      safetensors files holding pixel_values [3, S, S]; "chosen_tokens", "rejected_tokens":
      the response ids, </s> included, as pv-caption --score writes them), batch 1; prints
      one JSON object per step: loss, log-probabilities, gradient norm, step_s.

The step is pv-dpo's for one pair (see pv-dpo(1)): LoRA of the adapter (dropout 0) and the
projector trained, the vision tower frozen and run once per image without gradients; the
reference is the model with the adapters off and the projector as loaded; log-probabilities
are sums over the response tokens (the logits of the response positions only, as pv
computes them); DPO sigmoid loss; stage 2 adds POVID's noise-own term (each model's argmax
under the noisy image, without gradients, scored on the clean logits); global gradient
norm clipping; torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0) at constant
learning rates (pv-dpo --schedule constant --warmup-ratio 0).
"""
import argparse, json, math, os, sys, time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llava import LORA_MODULES, Llava, prompt_ids, read_safetensors, write_safetensors  # noqa: E402

PEFT_PREFIX = "base_model.model.model.language_model."


def make_adapter(args):
    cfg = json.load(open(os.path.join(args.model, "config.json")))["text_config"]
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    heads = cfg["num_attention_heads"]
    d = cfg.get("head_dim", H // heads)
    q, kv = heads * d, cfg.get("num_key_value_heads", heads) * d
    shapes = {"q": (H, q), "k": (H, kv), "v": (H, kv), "o": (q, H), "gate": (H, I), "up": (H, I), "down": (I, H)}
    rng = np.random.default_rng(args.seed)
    r = args.r
    t = {}
    for i in range(cfg["num_hidden_layers"]):
        for short, (n_in, n_out) in shapes.items():
            base = f"{PEFT_PREFIX}layers.{i}.{LORA_MODULES[short]}"
            bound = 1 / math.sqrt(n_in)
            t[base + ".lora_A.weight"] = rng.uniform(-bound, bound, (r, n_in)).astype(np.float32)
            t[base + ".lora_B.weight"] = (rng.standard_normal((n_out, r)) * 0.05 / math.sqrt(r)).astype(np.float32)
    os.makedirs(args.dir, exist_ok=True)
    write_safetensors(os.path.join(args.dir, "adapter_model.safetensors"), t)
    config = {"peft_type": "LORA", "r": r, "lora_alpha": args.alpha or 2 * r, "lora_dropout": 0.0,
              "bias": "none", "use_rslora": False, "fan_in_fan_out": False,
              "target_modules": ".*language_model.*\\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"}
    with open(os.path.join(args.dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)


def load_adapter(path):
    """A PEFT adapter folder as (linear name -> [A, B]) trainable tensors, and its scale."""
    import torch
    cfg = json.load(open(os.path.join(path, "adapter_config.json")))
    scale = cfg["lora_alpha"] / (math.sqrt(cfg["r"]) if cfg.get("use_rslora") else cfg["r"])
    lora = {}
    for name, a in read_safetensors(os.path.join(path, "adapter_model.safetensors")).items():
        if not name.startswith(PEFT_PREFIX):
            continue
        rest, which = name[len(PEFT_PREFIX):].rsplit(".lora_", 1)
        pair = lora.setdefault("language_model.model." + rest, [None, None])
        pair[0 if which.startswith("A") else 1] = torch.tensor(np.array(a, dtype=np.float32), requires_grad=True)
    return lora, scale


def pixels(path):
    import torch
    return torch.from_numpy(np.ascontiguousarray(read_safetensors(path)["pixel_values"], dtype=np.float32))


def run(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    model = Llava(args.model, rope_in_weight_dtype=True)
    prompt = prompt_ids(model.n_image)
    start = len(prompt)  # first response token
    ref_projector = [model.W[n] for n in Llava.PROJECTOR]
    projector = [w.clone().requires_grad_(True) for w in ref_projector]
    adapters, scale = load_adapter(args.adapter) if args.adapter else ({}, 1.0)
    lora = {name: (a, b, scale) for name, (a, b) in adapters.items()}
    lora_params = [p for a, b in adapters.values() for p in (a, b)]
    opt = torch.optim.AdamW([{"params": lora_params, "lr": args.lr},
                             {"params": projector, "lr": args.projector_lr}],
                            betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def response_logits(ids, features, adapters_on):
        """Logits of the positions that predict response tokens: rows start-1 .. n-2."""
        h = model.decoder(model.embed(ids, features), 0, lora=lora if adapters_on else None)
        return model.logits(h[start - 1:len(ids) - 1])

    def score(logits, ids_or_targets):
        """Sum of log-softmax(logits) at the targets (float64 sum, as pv sums)."""
        targets = torch.tensor(ids_or_targets)
        return F.log_softmax(logits, -1).gather(1, targets[:, None]).double().sum()

    def dpo(pc, pr, rc, rr):
        h = (pc - rc) - (pr - rr)
        return -F.logsigmoid(args.beta * h), args.beta * (pc - rc), args.beta * (pr - rr)

    base = os.path.dirname(os.path.abspath(args.pairs))
    pairs = [json.loads(line) for line in open(args.pairs) if line.strip()]
    for step, pair in enumerate(pairs, 1):
        t0 = time.perf_counter()
        chosen = prompt + pair["chosen_tokens"]
        rejected = prompt + pair["rejected_tokens"]
        with torch.no_grad():
            selected = model.vision_selected(pixels(os.path.join(base, pair["image"])))
            ref_feat = model.project(selected, ref_projector)
            ref_c_logits = response_logits(chosen, ref_feat, False)
            ref_c = score(ref_c_logits, chosen[start:])
            ref_r = score(response_logits(rejected, ref_feat, False), rejected[start:])
            if args.stage == 2:
                noisy = model.vision_selected(pixels(os.path.join(base, pair["noisy_image"])))
                ref_arg = response_logits(chosen, model.project(noisy, ref_projector), False).argmax(-1)
                ref_n = score(ref_c_logits, ref_arg.tolist())
                pol_arg = response_logits(chosen, model.project(noisy, projector), True).argmax(-1)
        features = model.project(selected, projector)
        c_logits = response_logits(chosen, features, True)
        pol_c = score(c_logits, chosen[start:])
        pol_r = score(response_logits(rejected, features, True), rejected[start:])
        loss, rew_c, rew_r = dpo(pol_c, pol_r, ref_c, ref_r)
        out = {"step": step}
        if args.stage == 2:
            pol_n = score(c_logits, pol_arg.tolist())
            loss_n, _, rew_n = dpo(pol_c, pol_n, ref_c, ref_n)
            out.update({"loss/hallucinated": loss.item(), "loss/noise": loss_n.item(),
                        "logps/noise": pol_n.item(), "rewards/noise": rew_n.item()})
            loss = (1 - args.noise_weight) * loss + args.noise_weight * loss_n
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(lora_params + projector,
                                              args.max_grad_norm if args.max_grad_norm > 0 else math.inf)
        opt.step()
        out.update({"loss": loss.item(), "rewards/chosen": rew_c.item(), "rewards/rejected": rew_r.item(),
                    "logps/chosen": pol_c.item(), "logps/rejected": pol_r.item(),
                    "grad_norm": norm.item(), "step_s": time.perf_counter() - t0})
        print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-adapter")
    m.add_argument("dir")
    m.add_argument("--model", required=True)
    m.add_argument("--r", type=int, default=8)
    m.add_argument("--alpha", type=float, default=0)
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--pairs", required=True)
    r.add_argument("--adapter")
    r.add_argument("--stage", type=int, choices=(1, 2), default=1)
    r.add_argument("--beta", type=float, default=0.1)
    r.add_argument("--noise-weight", type=float, default=0.5)
    r.add_argument("--lr", type=float, default=1e-6)
    r.add_argument("--projector-lr", type=float, default=2e-5)
    r.add_argument("--max-grad-norm", type=float, default=1.0)
    r.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    make_adapter(args) if args.cmd == "make-adapter" else run(args)


if __name__ == "__main__":
    main()
