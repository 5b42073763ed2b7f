#!/usr/bin/python3
"""Writes the sample world's untrained tiny LLaVA as a llava-hf model folder.

    init_model.py --config config.json --tokenizer tokenizer.json --seed 0 --out DIR
    init_model.py --to-f16 IN.safetensors OUT.safetensors

The first form writes DIR/config.json, DIR/tokenizer.json and DIR/model.safetensors
(F32, random weights) for pv-dpo --loss sft --lora-r 0 to train from scratch. The
second converts a trained model.safetensors to F16 (round to nearest even, as
numpy's astype does) so that the committed model stays a few megabytes.

Initialisation, with Python's random.Random(seed):
  language model   every linear and the embeddings N(0, 0.02), RMSNorm weights 1
                   (LlamaPreTrainedModel's rule);
  projector        weights and biases uniform in +-1/sqrt(in) (torch.nn.Linear's rule);
  vision tower     frozen, so it must keep the pixels' information by itself. The
                   config reads its features at vision_feature_layer 0: the patch
                   embedding plus position embedding, after pre_layrnorm. The patch
                   embedding is a square random Gaussian matrix (hidden 192 = 3 x 8 x 8
                   inputs, std 1/sqrt(192)), invertible almost surely, so every patch's
                   pixels survive up to the layer norm's loss of mean and scale; the
                   position embeddings N(0, 0.5) tell the patches apart. The one encoder
                   layer exists only because the loader expects the tensors; it is
                   never run.
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: list of (name, shape, flat list of floats)."""
    fmt = {"F32": "f", "F16": "e"}[dtype]
    size = {"F32": 4, "F16": 2}[dtype]
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape, data in tensors:
        n = len(data) * size
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        blobs.append(struct.pack("<%d%s" % (len(data), fmt), *data))
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        fmt, size = {"F32": ("f", 4), "F16": ("e", 2)}[info["dtype"]]
        b, e = info["data_offsets"]
        out.append((name, info["shape"], list(struct.unpack("<%d%s" % ((e - b) // size, fmt),
                                                             body[b:e]))))
    return out


def init(cfg, rng):
    v, t = cfg["vision_config"], cfg["text_config"]
    vh, th = v["hidden_size"], t["hidden_size"]
    tensors = []

    def gauss(name, shape, std):
        n = math.prod(shape)
        tensors.append((name, shape, [rng.gauss(0.0, std) for _ in range(n)]))

    def const(name, shape, value):
        tensors.append((name, shape, [value] * math.prod(shape)))

    def uniform(name, shape, bound):
        tensors.append((name, shape, [rng.uniform(-bound, bound) for _ in range(math.prod(shape))]))

    p, side = v["patch_size"], v["image_size"] // v["patch_size"]
    vt = "vision_tower."
    gauss(vt + "embeddings.patch_embedding.weight", [vh, 3, p, p], 1.0 / math.sqrt(3 * p * p))
    gauss(vt + "embeddings.class_embedding", [vh], 0.5)
    gauss(vt + "embeddings.position_embedding.weight", [side * side + 1, vh], 0.5)
    const(vt + "pre_layrnorm.weight", [vh], 1.0)
    const(vt + "pre_layrnorm.bias", [vh], 0.0)
    vi = v["intermediate_size"]
    for i in range(v["num_hidden_layers"]):
        lp = vt + "encoder.layers.%d." % i
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            gauss(lp + "self_attn.%s.weight" % proj, [vh, vh], 0.02)
            const(lp + "self_attn.%s.bias" % proj, [vh], 0.0)
        for ln in ("layer_norm1", "layer_norm2"):
            const(lp + ln + ".weight", [vh], 1.0)
            const(lp + ln + ".bias", [vh], 0.0)
        gauss(lp + "mlp.fc1.weight", [vi, vh], 0.02)
        const(lp + "mlp.fc1.bias", [vi], 0.0)
        gauss(lp + "mlp.fc2.weight", [vh, vi], 0.02)
        const(lp + "mlp.fc2.bias", [vh], 0.0)
    const(vt + "post_layernorm.weight", [vh], 1.0)
    const(vt + "post_layernorm.bias", [vh], 0.0)

    uniform("multi_modal_projector.linear_1.weight", [th, vh], 1.0 / math.sqrt(vh))
    uniform("multi_modal_projector.linear_1.bias", [th], 1.0 / math.sqrt(vh))
    uniform("multi_modal_projector.linear_2.weight", [th, th], 1.0 / math.sqrt(th))
    uniform("multi_modal_projector.linear_2.bias", [th], 1.0 / math.sqrt(th))

    vocab, inter = t["vocab_size"], t["intermediate_size"]
    heads, kv = t["num_attention_heads"], t["num_key_value_heads"]
    hd = th // heads
    lm = "language_model."
    gauss(lm + "model.embed_tokens.weight", [vocab, th], 0.02)
    for i in range(t["num_hidden_layers"]):
        lp = lm + "model.layers.%d." % i
        gauss(lp + "self_attn.q_proj.weight", [heads * hd, th], 0.02)
        gauss(lp + "self_attn.k_proj.weight", [kv * hd, th], 0.02)
        gauss(lp + "self_attn.v_proj.weight", [kv * hd, th], 0.02)
        gauss(lp + "self_attn.o_proj.weight", [th, heads * hd], 0.02)
        gauss(lp + "mlp.gate_proj.weight", [inter, th], 0.02)
        gauss(lp + "mlp.up_proj.weight", [inter, th], 0.02)
        gauss(lp + "mlp.down_proj.weight", [th, inter], 0.02)
        const(lp + "input_layernorm.weight", [th], 1.0)
        const(lp + "post_attention_layernorm.weight", [th], 1.0)
    const(lm + "model.norm.weight", [th], 1.0)
    gauss(lm + "lm_head.weight", [vocab, th], 0.02)
    return tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--tokenizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--to-f16", nargs=2, metavar=("IN", "OUT"))
    a = ap.parse_args()
    if a.to_f16:
        write_safetensors(a.to_f16[1], read_safetensors(a.to_f16[0]), "F16")
        return
    if not (a.config and a.tokenizer and a.out):
        ap.error("--config, --tokenizer and --out are needed")
    with open(a.config) as f:
        cfg = json.load(f)
    with open(a.tokenizer, encoding="utf-8") as f:
        vocab_pieces = len(json.load(f)["model"]["vocab"]) + 2
    if cfg["text_config"]["vocab_size"] != vocab_pieces:
        sys.exit("init_model.py: config vocab_size %d, tokenizer has %d ids"
                 % (cfg["text_config"]["vocab_size"], vocab_pieces))
    os.makedirs(a.out, exist_ok=True)
    shutil.copyfile(a.config, os.path.join(a.out, "config.json"))
    shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
    write_safetensors(os.path.join(a.out, "model.safetensors"), init(cfg, random.Random(a.seed)))


if __name__ == "__main__":
    main()
