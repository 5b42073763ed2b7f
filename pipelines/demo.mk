# The POVID demo: the whole method on the sample world, in a few minutes on a laptop.
#
#   make demo                                  (from the top level: builds the tools first)
#   make -f pipelines/demo.mk BIN=bin [VAR=value ...]
#
# Steps (each a file under $(D), so an interrupted run resumes where it stopped):
#   1. held-out test scenes and preference scenes   pipelines/world/world.py
#   2. the base model's captions, and their CHAIR    pv-caption, pv-score
#   3. preference pairs: hallucinated rejected text, noisy images, checks
#                                                    pv-hallucinate, pv-noise, pv-pair
#   4. stage 1 (DPO on chosen vs hallucinated)       pv-dpo --stage 1 --merge
#      noise term only, from the base model          pv-dpo --stage 2 --noise-weight 1
#      both: stage 2 from the merged stage-1 model   pv-dpo --stage 2
#   5. captions and CHAIR of the three trained models, and the table
#
# For real data, replace step 1 by your records (id, image, prompt, chosen, objects:
# for instance LLaVA-Instruct detailed descriptions of COCO train2014 for the pairs, and
# COCO val2014 images for the test), MODEL by a llava-hf folder, LEXICON and COOCCUR by
# nothing (the built-in COCO lexicon and co-occurrence table), SCORE_GT by pv-score's
# --coco-instances FILE when the test records have no objects, TEMPLATE by llava_v1, and
# the training options by the paper's (LORA='--lora-r 128 --lora-alpha 256', LR=1e-7
# ... on a GPU); pipelines/world/README.md has the details.

SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:

BIN      ?= bin
PY       ?= /usr/bin/python3
MODEL    ?= models/sample
WORLD    ?= pipelines/world
LEXICON  ?= $(WORLD)/synonyms.txt
COOCCUR  ?= $(WORLD)/cooccur.json
SCORE_GT ?=
D        ?= build/demo
SEED     ?= 1
N_TEST   ?= 200
N_PREF   ?= 400
TEMPLATE ?= llava_hf
MAX_NEW  ?= 64
J        ?= 1
LORA     ?= --lora-r 16 --lora-alpha 32
LR       ?= 2e-4
BATCH    ?= 8
EPOCHS1  ?= 2
EPOCHS2  ?= 1

# Every command runs inside $(D) (cd $(D) && ...), so that the records' relative image
# paths resolve there; hence absolute paths for what lives outside.
B   := $(abspath $(BIN))
M   := $(abspath $(MODEL))
LEX := $(if $(LEXICON),--synonyms $(abspath $(LEXICON)))
CO  := $(if $(COOCCUR),--cooccur $(abspath $(COOCCUR)))

CAPTION := $(B)/pv-caption -q -j $(J) --template $(TEMPLATE) --max-new-tokens $(MAX_NEW)
DPO     := $(B)/pv-dpo -q -j $(J) --template $(TEMPLATE) $(LORA) --lr $(LR) --batch $(BATCH) \
           --seed $(SEED)
SCORE   := $(B)/pv-score -q $(LEX) $(SCORE_GT)
# Each recipe line is one bash, whose $SECONDS counts from its start: the step's time.
timed    = echo "$(1): $$SECONDS s" >> timings.txt

MODELS := base stage1 noise both

.PHONY: all
all: $(D)/table.txt
	@cat $<

# 1. Scenes: the test split draws shapes independently; the preference split has the
#    training split's co-occurrence bias (the paper's pairs come from the same COCO
#    images as the model's instruction data).
$(D)/test.jsonl: $(WORLD)/world.py
	@mkdir -p $(D)
	cd $(D) && $(PY) $(abspath $<) --split test --n $(N_TEST) --seed $(SEED) --out . \
	    > test.jsonl.tmp && mv test.jsonl.tmp test.jsonl && $(call timed,test scenes)

$(D)/pref.jsonl: $(WORLD)/world.py
	@mkdir -p $(D)
	cd $(D) && $(PY) $(abspath $<) --split pref --n $(N_PREF) --seed $(SEED) --out . \
	    > pref.jsonl.tmp && mv pref.jsonl.tmp pref.jsonl && $(call timed,preference scenes)

# 3. Pairs: rejected = chosen with co-occurring objects, attributes and relations
#    changed (rules engine); noisy_image = the image at diffusion step 500; pv-pair
#    checks that every field is there and shuffles.
$(D)/pairs.jsonl: $(D)/pref.jsonl
	cd $(D) && $(B)/pv-hallucinate -q --seed $(SEED) $(LEX) $(CO) pref.jsonl \
	    | $(B)/pv-noise -q --seed $(SEED) --out-dir noisy \
	    | $(B)/pv-pair -q --require id,image,prompt,chosen,rejected,noisy_image \
	        --shuffle --seed $(SEED) -o pairs.jsonl && $(call timed,pairs)

# 4. Training. Stage 1 writes the merged model stage 2 starts from.
$(D)/stage1/merged/model.safetensors: $(D)/pairs.jsonl
	cd $(D) && $(DPO) --model $(M) --output stage1 --stage 1 --epochs $(EPOCHS1) --merge \
	    pairs.jsonl > stage1.log && $(call timed,train stage 1)

$(D)/noise/adapter_model.safetensors: $(D)/pairs.jsonl
	cd $(D) && $(DPO) --model $(M) --output noise --stage 2 --noise-weight 1 \
	    --epochs $(EPOCHS1) pairs.jsonl > noise.log && $(call timed,train noise term only)

$(D)/both/adapter_model.safetensors: $(D)/stage1/merged/model.safetensors
	cd $(D) && $(DPO) --model stage1/merged --output both --stage 2 --epochs $(EPOCHS2) \
	    pairs.jsonl > both.log && $(call timed,train stage 2 (both))

# 2 and 5. Captions of the held-out scenes by each model, and their CHAIR.
$(D)/base.captions.jsonl: $(D)/test.jsonl
	cd $(D) && $(CAPTION) --model $(M) -o base.captions.jsonl test.jsonl \
	    && $(call timed,captions base)

$(D)/stage1.captions.jsonl: $(D)/test.jsonl $(D)/stage1/merged/model.safetensors
	cd $(D) && $(CAPTION) --model stage1/merged -o stage1.captions.jsonl test.jsonl \
	    && $(call timed,captions stage 1)

$(D)/noise.captions.jsonl: $(D)/test.jsonl $(D)/noise/adapter_model.safetensors
	cd $(D) && $(CAPTION) --model $(M) --adapter noise -o noise.captions.jsonl test.jsonl \
	    && $(call timed,captions noise only)

$(D)/both.captions.jsonl: $(D)/test.jsonl $(D)/both/adapter_model.safetensors
	cd $(D) && $(CAPTION) --model stage1/merged --adapter both -o both.captions.jsonl \
	    test.jsonl && $(call timed,captions both)

$(D)/%.chair.json: $(D)/%.captions.jsonl
	$(SCORE) --summary $@ $<

$(D)/table.txt: $(foreach m,$(MODELS),$(D)/$(m).chair.json)
	$(PY) $(WORLD)/table.py "base=$(D)/base.chair.json" "stage 1 only=$(D)/stage1.chair.json" \
	    "noise term only=$(D)/noise.chair.json" "both (POVID)=$(D)/both.chair.json" > $@.tmp
	@echo >> $@.tmp; echo "seconds per step on this machine:" >> $@.tmp
	@sed 's/^/  /' $(D)/timings.txt >> $@.tmp && mv $@.tmp $@

.PHONY: clean
clean:
	rm -rf $(D)
