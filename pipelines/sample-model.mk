# The sample world's base model, trained from scratch: what models/sample/ holds.
#
#   make -f pipelines/sample-model.mk BIN=bin            (9 to 23 minutes on 2 shared cores)
#   make -f pipelines/sample-model.mk BIN=bin lexicon    (only when the world changes)
#
# 1. a biased training split of the sample world (pipelines/world/world.py);
# 2. an untrained tiny LLaVA (pipelines/world/config.json and tokenizer.json, random
#    weights; the vision tower is frozen and random, read at vision_feature_layer 0:
#    see pipelines/world/init_model.py for why that keeps the pixels' information);
# 3. supervised fine-tuning of the projector and the whole language model on the
#    ground-truth descriptions: pv-dpo --loss sft --lora-r 0;
# 4. the weights stored as F16 in $(OUT) with config.json and tokenizer.json.
#
# The training is deterministic for a seed, up to the order of floating-point sums
# in threaded BLAS (-j 1 by default, so a rerun gives the same file on one machine).
#
# "lexicon" rebuilds pipelines/world/words.txt (the template's words and every word
# that descriptions and pv-hallucinate's rewrites of them use at least three times),
# tokenizer.json from it, and cooccur.json (pv-hallucinate --build-cooccur on the
# training split). A new tokenizer needs a new model: run the default target after it.

SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:

BIN     ?= bin
PY      ?= /usr/bin/python3
WORLD   ?= pipelines/world
D       ?= build/sample-model
OUT     ?= models/sample
SEED    ?= 1
N_TRAIN ?= 4000
EPOCHS  ?= 3
LR      ?= 2e-3
BATCH   ?= 16
J       ?= 1

B   := $(abspath $(BIN))
LEX := --synonyms $(WORLD)/synonyms.txt

.PHONY: all lexicon
all: $(OUT)/model.safetensors

$(D)/train.jsonl: $(WORLD)/world.py
	@mkdir -p $(D)
	$(PY) $< --split train --n $(N_TRAIN) --seed $(SEED) --out $(D) > $@.tmp && mv $@.tmp $@

$(D)/init/model.safetensors: $(WORLD)/init_model.py $(WORLD)/config.json $(WORLD)/tokenizer.json
	$(PY) $< --config $(WORLD)/config.json --tokenizer $(WORLD)/tokenizer.json --seed $(SEED) \
	    --out $(D)/init

$(D)/sft/model.safetensors: $(D)/init/model.safetensors $(D)/train.jsonl
	$(B)/pv-dpo -q -j $(J) --model $(D)/init --output $(D)/sft --loss sft --lora-r 0 \
	    --lr $(LR) --projector-lr $(LR) --batch $(BATCH) --epochs $(EPOCHS) --seed $(SEED) \
	    --template llava_hf --image-root $(D) $(D)/train.jsonl > $(D)/sft.log

$(OUT)/model.safetensors: $(D)/sft/model.safetensors
	@mkdir -p $(OUT)
	cp $(WORLD)/config.json $(WORLD)/tokenizer.json $(OUT)/
	$(PY) $(WORLD)/init_model.py --to-f16 $< $@

# The words come from their own sample of 2000 training scenes (seed 0), rewritten
# with that sample's co-occurrence table, so that they do not depend on N_TRAIN or SEED.
lexicon: $(D)/train.jsonl
	@mkdir -p $(D)/lexicon
	$(PY) $(WORLD)/world.py --split train --n 2000 --seed 0 --out $(D)/lexicon \
	    > $(D)/lexicon/scenes.jsonl
	$(B)/pv-hallucinate -q --build-cooccur $(LEX) -o $(D)/lexicon/cooccur.json \
	    $(D)/lexicon/scenes.jsonl
	( printf '%s\n' USER ASSISTANT Describe this image in detail; \
	  for s in 1 2 3; do \
	    $(B)/pv-hallucinate -q --seed $$s $(LEX) --cooccur $(D)/lexicon/cooccur.json \
	        $(D)/lexicon/scenes.jsonl; \
	  done | $(PY) -c 'import json, sys; [print(r["chosen"], r["rejected"], sep="\n") for r in map(json.loads, sys.stdin)]' \
	    | grep -oE "[A-Za-z']+" | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1rn -k2 \
	    | awk '$$1 >= 3 {print $$2}' \
	) | awk '!seen[$$0]++' > $(WORLD)/words.txt
	$(PY) $(WORLD)/make_tokenizer.py $(WORLD)/words.txt > $(WORLD)/tokenizer.json
	$(B)/pv-hallucinate -q --build-cooccur $(LEX) -o $(WORLD)/cooccur.json $(D)/train.jsonl
