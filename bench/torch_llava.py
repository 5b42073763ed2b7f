"""LLaVA-1.5 in eager fp32 PyTorch on the CPU: the peer the benchmarks measure pv against.

Shared by bench/caption_torch.py (generation) and bench/dpo_torch.py (a DPO step).
The forward pass is written out here from the architecture (as transformers computes
it), so that nothing but torch, numpy and Pillow is needed:

  read_safetensors / write_safetensors   tensors as numpy arrays (F16 and F64 read as fp32)
  make_model(dir, seed)                  a random 239M-parameter model in the llava-hf layout
  prompt_ids(n_image)                    the fixture's llava_v1 prompt with n image tokens
  preprocess(png, size)                  LLaVA's pad-to-square + CLIP preprocessing (Pillow)
  Llava(model_dir)                       weights, CLIP tower, projector, LLaMA decoder; the
                                         decoder takes optional LoRA adapters and KV cache
"""
import json, os, shutil, struct

import numpy as np

FIXTURE = os.path.join(os.environ.get("PV_SHARED", os.path.join(os.path.dirname(__file__), "../../shared")),
                       "fixtures/tiny-llava")
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8}


def read_safetensors(path):
    """name -> numpy array (a view of the mapped file; F16 and F64 converted to fp32)."""
    raw = np.memmap(path, dtype=np.uint8, mode="c")  # copy-on-write: torch wants writable arrays
    n = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8:8 + n]))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        a = raw[8 + n + b:8 + n + e].view(DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = a.astype(np.float32) if t["dtype"] in ("F16", "F64") else a
    return out


def safetensors_dtype(path, name):
    """The stored dtype ("F32", "F16", "BF16", ...) of one tensor of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))[name]["dtype"]


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


def make_model(out_dir, seed=0):
    """Writes a random LLaVA-1.5-architecture model (LLaMA hidden 1024 x 8 layers, GQA 16/8
    heads; CLIP ViT 336/14, hidden 1024 x 6 layers) as a llava-hf folder; returns its
    parameter count."""
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
    rng = np.random.default_rng(seed)

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
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), t)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(FIXTURE, name), out_dir)
    return int(sum(a.size for name, a in t.items() if "post_layernorm" not in name))


def prompt_ids(n_image):
    """The fixture's llava_v1 prompt ("Describe this image in detail.") with n_image image
    tokens: golden.json's ids_before_image, the image tokens, then the fixture prompt's ids
    after its image tokens. pv builds the same ids for that prompt."""
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


LORA_MODULES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
                "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


class Llava:
    """A llava-hf folder's weights (W: name -> torch tensor) and the forward pieces.

    LoRA adapters are a dict: linear name (e.g. "language_model.model.layers.0.mlp.up_proj")
    -> (A [r, in], B [out, r], scale); a linear with one computes W x + scale B (A x), as
    peft does with dropout 0. The projector's weights can be passed in (a trained copy)."""

    PROJECTOR = ("multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.bias",
                 "multi_modal_projector.linear_2.weight", "multi_modal_projector.linear_2.bias")

    def __init__(self, model_dir, rope_in_weight_dtype=False):
        """rope_in_weight_dtype: round RoPE's inverse frequencies to the stored weights'
        type, as transformers does when it loads a float16 or bfloat16 checkpoint in that
        type (the fixture's golden values were computed so; pv does the same)."""
        import torch
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.tc, self.vc = self.cfg["text_config"], self.cfg["vision_config"]
        self.W = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
                  read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
        tc = self.tc
        self.H, self.nh = tc["hidden_size"], tc["num_attention_heads"]
        self.nkv = tc.get("num_key_value_heads", self.nh)
        self.d = tc.get("head_dim", self.H // self.nh)
        self.L = tc["num_hidden_layers"]
        theta = tc.get("rope_theta", tc.get("rope_parameters", {}).get("rope_theta", 10000.0))
        self.inv_freq = 1.0 / theta ** (torch.arange(0, self.d, 2, dtype=torch.float32) / self.d)
        stored = safetensors_dtype(os.path.join(model_dir, "model.safetensors"),
                                   "language_model.model.embed_tokens.weight")
        narrow = {"F16": torch.float16, "BF16": torch.bfloat16}.get(stored)
        if rope_in_weight_dtype and narrow is not None:
            self.inv_freq = self.inv_freq.to(narrow).float()
        self.rms_eps = tc.get("rms_norm_eps", 1e-6)
        self.image_token = self.cfg.get("image_token_index", 32000)
        self.n_image = (self.vc["image_size"] // self.vc["patch_size"]) ** 2

    def lin(self, x, name, bias=False, lora=None):
        import torch.nn.functional as F
        y = F.linear(x, self.W[name + ".weight"], self.W[name + ".bias"] if bias else None)
        if lora is not None and name in lora:
            a, b, scale = lora[name]
            y = y + F.linear(F.linear(x, a), b) * scale
        return y

    def vision_selected(self, px):
        """CLIP ViT up to the feature layer, CLS dropped: [n_image, vision hidden]."""
        import torch
        import torch.nn.functional as F
        vc, W = self.vc, self.W
        VH, heads = vc["hidden_size"], vc["num_attention_heads"]
        eps = vc.get("layer_norm_eps", 1e-5)

        def ln(x, name):
            return F.layer_norm(x, (VH,), W[name + ".weight"], W[name + ".bias"], eps)

        P = vc["patch_size"]
        x = F.conv2d(px[None], W["vision_tower.embeddings.patch_embedding.weight"], stride=P)
        x = x.flatten(2).transpose(1, 2)[0]
        x = torch.cat([W["vision_tower.embeddings.class_embedding"][None], x])
        x = x + W["vision_tower.embeddings.position_embedding.weight"]
        x = ln(x, "vision_tower.pre_layrnorm")
        n_layers = vc["num_hidden_layers"] + 1 + self.cfg.get("vision_feature_layer", -2)
        d = VH // heads
        for i in range(n_layers):
            p = f"vision_tower.encoder.layers.{i}."
            h = ln(x, p + "layer_norm1")
            q, k, v = (self.lin(h, p + f"self_attn.{n}", True).view(-1, heads, d).transpose(0, 1)
                       for n in ("q_proj", "k_proj", "v_proj"))
            a = torch.softmax(q @ k.transpose(1, 2) * d ** -0.5, dim=-1) @ v
            x = x + self.lin(a.transpose(0, 1).reshape(-1, VH), p + "self_attn.out_proj", True)
            h = self.lin(ln(x, p + "layer_norm2"), p + "mlp.fc1", True)
            x = x + self.lin(h * torch.sigmoid(1.702 * h), p + "mlp.fc2", True)
        return x[1:]

    def project(self, selected, weights=None):
        """The projector (GELU MLP) on selected features; weights: the four projector
        tensors in PROJECTOR's order (default: the model's own)."""
        import torch.nn.functional as F
        w1, b1, w2, b2 = weights if weights is not None else [self.W[n] for n in self.PROJECTOR]
        return F.linear(F.gelu(F.linear(selected, w1, b1)), w2, b2)

    def vision(self, px):
        return self.project(self.vision_selected(px))

    def rms(self, x, name):
        import torch
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.rms_eps) * self.W[name]

    def rope(self, x, pos):
        import torch
        d = self.d
        f = pos[:, None].float() * self.inv_freq[None]
        emb = torch.cat([f, f], -1)
        x1, x2 = x[..., :d // 2], x[..., d // 2:]
        return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()

    def new_cache(self, capacity):
        import torch
        return (torch.zeros(self.L, self.nkv, capacity, self.d), torch.zeros(self.L, self.nkv, capacity, self.d))

    def decoder(self, x, start=0, cache=None, lora=None):
        """LLaMA decoder layers on embeddings x [n, hidden] at positions start..start+n;
        returns the residual stream before the final RMSNorm. With a cache (new_cache),
        keys and values are stored there and earlier ones attended to."""
        import torch
        import torch.nn.functional as F
        n, nh, nkv, d = x.shape[0], self.nh, self.nkv, self.d
        reps = nh // nkv
        pos = torch.arange(start, start + n)
        mask = torch.full((n, start + n), float("-inf")).triu(start + 1)
        for i in range(self.L):
            p = f"language_model.model.layers.{i}."
            h = self.rms(x, p + "input_layernorm.weight")
            q = self.rope(self.lin(h, p + "self_attn.q_proj", lora=lora).view(n, nh, d).transpose(0, 1), pos)
            k = self.rope(self.lin(h, p + "self_attn.k_proj", lora=lora).view(n, nkv, d).transpose(0, 1), pos)
            v = self.lin(h, p + "self_attn.v_proj", lora=lora).view(n, nkv, d).transpose(0, 1)
            if cache is not None:
                kc, vcache = cache
                kc[i, :, start:start + n] = k
                vcache[i, :, start:start + n] = v
                k, v = kc[i, :, :start + n], vcache[i, :, :start + n]
            K = k.repeat_interleave(reps, 0)
            V = v.repeat_interleave(reps, 0)
            a = torch.softmax(q @ K.transpose(1, 2) * d ** -0.5 + mask, dim=-1) @ V
            x = x + self.lin(a.transpose(0, 1).reshape(n, nh * d), p + "self_attn.o_proj", lora=lora)
            h = self.rms(x, p + "post_attention_layernorm.weight")
            x = x + self.lin(F.silu(self.lin(h, p + "mlp.gate_proj", lora=lora)) * self.lin(h, p + "mlp.up_proj", lora=lora),
                             p + "mlp.down_proj", lora=lora)
        return x

    def logits(self, hidden):
        """Final RMSNorm and lm_head on rows of the decoder's output."""
        return self.lin(self.rms(hidden, "language_model.model.norm.weight"), "language_model.lm_head")

    def embed(self, ids, features=None):
        """Token embeddings of ids (a list), the image features in place of the image
        tokens (one contiguous run); differentiable in the features."""
        import torch
        emb = self.W["language_model.model.embed_tokens.weight"]
        ids_t = torch.tensor(ids)
        x = emb[ids_t.clamp(max=self.tc["vocab_size"] - 1)]
        if features is None:
            return x
        first = ids.index(self.image_token)
        return torch.cat([x[:first], features, x[first + features.shape[0]:]])
