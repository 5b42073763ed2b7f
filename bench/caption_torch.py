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

The forward pass is written out here from the architecture (as transformers computes
it), so that nothing but torch, numpy and Pillow is needed. The prompt ids are those of
the fixture (golden.json's ids_before_image, then the image tokens, then the fixture
prompt's ids after its image tokens), which is what pv-caption builds for that prompt.
"""
import argparse, json, os, shutil, struct, sys, time

import numpy as np

FIXTURE = os.path.join(os.environ.get("PV_SHARED", os.path.join(os.path.dirname(__file__), "../../shared")),
                       "fixtures/tiny-llava")
DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """name -> numpy array (a view of the mapped file; F16 converted to fp32)."""
    raw = np.memmap(path, dtype=np.uint8, mode="c")  # copy-on-write: torch wants writable arrays
    n = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8:8 + n]))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        a = raw[8 + n + b:8 + n + e].view(DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = a.astype(np.float32) if t["dtype"] == "F16" else a
    return out


def write_safetensors(path, tensors):
    header, off = {}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    os.replace(path + ".tmp", path)


def make_model(args):
    text = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
                num_key_value_heads=8, head_dim=64, vocab_size=32064, max_position_embeddings=2048,
                rms_norm_eps=1e-6, rope_theta=10000.0, model_type="llama", hidden_act="silu",
                bos_token_id=1, eos_token_id=2, pad_token_id=32001, tie_word_embeddings=False)
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=6, num_attention_heads=16,
                  image_size=336, patch_size=14, num_channels=3, hidden_act="quick_gelu",
                  layer_norm_eps=1e-5, projection_dim=768, model_type="clip_vision_model")
    cfg = dict(model_type="llava", text_config=text, vision_config=vision, image_token_index=32000,
               image_seq_length=576, projector_hidden_act="gelu", vision_feature_layer=-2,
               vision_feature_select_strategy="default", multimodal_projector_bias=True,
               pad_token_id=32001, tie_word_embeddings=False)
    rng = np.random.default_rng(args.seed)

    def w(*shape, std=0.02):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def ones(n):
        return np.float32(1) + w(n, std=0.05)

    t = {}
    H, I, V = text["hidden_size"], text["intermediate_size"], text["vocab_size"]
    kv = text["num_key_value_heads"] * text["head_dim"]
    t["language_model.model.embed_tokens.weight"] = w(V, H, std=1.0)
    t["language_model.lm_head.weight"] = w(V, H)
    t["language_model.model.norm.weight"] = ones(H)
    for i in range(text["num_hidden_layers"]):
        p = f"language_model.model.layers.{i}."
        t[p + "input_layernorm.weight"] = ones(H)
        t[p + "post_attention_layernorm.weight"] = ones(H)
        t[p + "self_attn.q_proj.weight"] = w(H, H)
        t[p + "self_attn.k_proj.weight"] = w(kv, H)
        t[p + "self_attn.v_proj.weight"] = w(kv, H)
        t[p + "self_attn.o_proj.weight"] = w(H, H)
        t[p + "mlp.gate_proj.weight"] = w(I, H)
        t[p + "mlp.up_proj.weight"] = w(I, H)
        t[p + "mlp.down_proj.weight"] = w(H, I)
    VH, VI, P, S = vision["hidden_size"], vision["intermediate_size"], vision["patch_size"], vision["image_size"]
    n_pos = (S // P) ** 2 + 1
    t["multi_modal_projector.linear_1.weight"] = w(H, VH)
    t["multi_modal_projector.linear_1.bias"] = w(H)
    t["multi_modal_projector.linear_2.weight"] = w(H, H)
    t["multi_modal_projector.linear_2.bias"] = w(H)
    t["vision_tower.embeddings.class_embedding"] = w(VH)
    t["vision_tower.embeddings.patch_embedding.weight"] = w(VH, 3, P, P)
    t["vision_tower.embeddings.position_embedding.weight"] = w(n_pos, VH)
    for name in ("pre_layrnorm", "post_layernorm"):
        t[f"vision_tower.{name}.weight"], t[f"vision_tower.{name}.bias"] = ones(VH), w(VH)
    for i in range(vision["num_hidden_layers"]):
        p = f"vision_tower.encoder.layers.{i}."
        for ln in ("layer_norm1", "layer_norm2"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = ones(VH), w(VH)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[p + f"self_attn.{proj}.weight"], t[p + f"self_attn.{proj}.bias"] = w(VH, VH), w(VH)
        t[p + "mlp.fc1.weight"], t[p + "mlp.fc1.bias"] = w(VI, VH), w(VI)
        t[p + "mlp.fc2.weight"], t[p + "mlp.fc2.bias"] = w(VH, VI), w(VH)
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(args.dir, "model.safetensors"), t)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(FIXTURE, name), args.dir)
    print(json.dumps({"params": int(sum(a.size for name, a in t.items() if "post_layernorm" not in name))}))


def prompt_ids(n_image):
    golden = json.load(open(os.path.join(FIXTURE, "golden.json")))
    fixture_prompt = read_safetensors(os.path.join(FIXTURE, "golden.safetensors"))["prompt_ids"].tolist()
    before = golden["ids_before_image"]
    after = fixture_prompt[len(before) + golden["n_image_tokens"]:]
    return before + [golden["image_token_id"]] * n_image + after


def preprocess(path, size):
    """LLaVA's expand2square + CLIPImageProcessor, with Pillow."""
    from PIL import Image
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w != h:
        side = max(w, h)
        sq = Image.new("RGB", (side, side), (122, 116, 104))
        sq.paste(img, ((side - w) // 2, (side - h) // 2))
        img = sq
    img = img.resize((size, size), Image.BICUBIC)
    x = np.asarray(img, dtype=np.float64) / 255.0
    x = (x - [0.48145466, 0.4578275, 0.40821073]) / [0.26862954, 0.26130258, 0.27577711]
    return x.transpose(2, 0, 1).astype(np.float32)


def run(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    tc, vc = cfg["text_config"], cfg["vision_config"]
    W = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
         read_safetensors(os.path.join(args.model, "model.safetensors")).items()}

    def lin(x, name, bias=False):
        return F.linear(x, W[name + ".weight"], W[name + ".bias"] if bias else None)

    # CLIP ViT up to the feature layer, CLS dropped, projector.
    VH, heads = vc["hidden_size"], vc["num_attention_heads"]
    eps = vc.get("layer_norm_eps", 1e-5)

    def ln(x, name):
        return F.layer_norm(x, (VH,), W[name + ".weight"], W[name + ".bias"], eps)

    def vision(px):
        P = vc["patch_size"]
        x = F.conv2d(px[None], W["vision_tower.embeddings.patch_embedding.weight"], stride=P)
        x = x.flatten(2).transpose(1, 2)[0]
        x = torch.cat([W["vision_tower.embeddings.class_embedding"][None], x])
        x = x + W["vision_tower.embeddings.position_embedding.weight"]
        x = ln(x, "vision_tower.pre_layrnorm")
        n_layers = vc["num_hidden_layers"] + 1 + cfg.get("vision_feature_layer", -2)
        d = VH // heads
        for i in range(n_layers):
            p = f"vision_tower.encoder.layers.{i}."
            h = ln(x, p + "layer_norm1")
            q, k, v = (lin(h, p + f"self_attn.{n}", True).view(-1, heads, d).transpose(0, 1)
                       for n in ("q_proj", "k_proj", "v_proj"))
            a = torch.softmax(q @ k.transpose(1, 2) * d ** -0.5, dim=-1) @ v
            x = x + lin(a.transpose(0, 1).reshape(-1, VH), p + "self_attn.out_proj", True)
            h = lin(ln(x, p + "layer_norm2"), p + "mlp.fc1", True)
            x = x + lin(h * torch.sigmoid(1.702 * h), p + "mlp.fc2", True)
        x = x[1:]
        x = F.gelu(lin(x, "multi_modal_projector.linear_1", True))
        return lin(x, "multi_modal_projector.linear_2", True)

    # LLaMA with a preallocated KV cache.
    H, nh = tc["hidden_size"], tc["num_attention_heads"]
    nkv = tc.get("num_key_value_heads", nh)
    d = tc.get("head_dim", H // nh)
    L, reps = tc["num_hidden_layers"], nh // nkv
    theta = tc.get("rope_theta", tc.get("rope_parameters", {}).get("rope_theta", 10000.0))
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    rms_eps = tc.get("rms_norm_eps", 1e-6)
    ids = prompt_ids(((vc["image_size"] // vc["patch_size"]) ** 2))
    cap = len(ids) + args.max_new_tokens
    kc = torch.zeros(L, nkv, cap, d)
    vcache = torch.zeros(L, nkv, cap, d)

    def rms(x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + rms_eps) * W[name]

    def rope(x, pos):
        f = pos[:, None].float() * inv_freq[None]
        emb = torch.cat([f, f], -1)
        x1, x2 = x[..., :d // 2], x[..., d // 2:]
        return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()

    def llama(x, start):
        n = x.shape[0]
        pos = torch.arange(start, start + n)
        mask = torch.full((n, start + n), float("-inf")).triu(start + 1)
        for i in range(L):
            p = f"language_model.model.layers.{i}."
            h = rms(x, p + "input_layernorm.weight")
            q = rope(lin(h, p + "self_attn.q_proj").view(n, nh, d).transpose(0, 1), pos)
            k = rope(lin(h, p + "self_attn.k_proj").view(n, nkv, d).transpose(0, 1), pos)
            v = lin(h, p + "self_attn.v_proj").view(n, nkv, d).transpose(0, 1)
            kc[i, :, start:start + n] = k
            vcache[i, :, start:start + n] = v
            K = kc[i, :, :start + n].repeat_interleave(reps, 0)
            V = vcache[i, :, :start + n].repeat_interleave(reps, 0)
            a = torch.softmax(q @ K.transpose(1, 2) * d ** -0.5 + mask, dim=-1) @ V
            x = x + lin(a.transpose(0, 1).reshape(n, nh * d), p + "self_attn.o_proj")
            h = rms(x, p + "post_attention_layernorm.weight")
            x = x + lin(F.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        return lin(rms(x[-1:], "language_model.model.norm.weight"), "language_model.lm_head")[0]

    t0 = time.perf_counter()
    feats = vision(torch.from_numpy(preprocess(args.image, vc["image_size"])))
    t1 = time.perf_counter()
    ids_t = torch.tensor(ids)
    x = W["language_model.model.embed_tokens.weight"][ids_t.clamp(max=tc["vocab_size"] - 1)]
    x[ids_t == cfg.get("image_token_index", 32000)] = feats
    logits = llama(x, 0)
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
        logits = llama(W["language_model.model.embed_tokens.weight"][tok][None], pos)
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
