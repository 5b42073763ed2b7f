/* The files pv-dpo writes and reads back.
 *
 * Adapter folder (LoRA training), loadable by peft and by pv (--adapter):
 *   adapter_config.json        PEFT LoRA config; target_modules is a regular expression
 *                              restricted to the language model (a plain list would also
 *                              match the vision tower's q/k/v projections)
 *   adapter_model.safetensors  base_model.model.<module>.lora_{A,B}.weight, fp32
 *   projector.safetensors      the trained projector, hub names
 *                              (model.multi_modal_projector.linear_{1,2}.{weight,bias})
 * Model folder (full fine-tuning, --merge): config.json and tokenizer files copied
 * from the base model, model.safetensors with every weight in fp32, hub names.
 * Checkpoint folder (--save-every, signals, --resume):
 *   state.json                 step, epoch, position in the epoch, the options
 *   trainer.safetensors        every trainable tensor ("param/NAME") and its AdamW
 *                              moments ("adam_m/NAME", "adam_v/NAME")
 * Every file is written under a temporary name and renamed into place; a
 * checkpoint folder as a whole is too, so a crash never leaves a half-written
 * checkpoint under its final name. Adapter and model folders are created when
 * missing, and keep what else they hold (checkpoints of the run, for instance). */
#ifndef PV_TRAIN_IO_H
#define PV_TRAIN_IO_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "llava_model.h"
#include "trainer.h"

int pv_save_adapter(const pv_trainer *t, const char *dir, const char *base_model, char *err,
                    size_t errlen);
/* A model folder with every weight of m; config and tokenizer files from src_dir. */
int pv_save_model_dir(const pv_llava_model *m, const char *src_dir, const char *dir, char *err,
                      size_t errlen);
/* pv_llava_load_adapter, then DIR/projector.safetensors when present. */
int pv_load_adapter_dir(pv_llava_model *m, const char *dir, char *err, size_t errlen);

typedef struct pv_train_state {
    long step;          /* optimiser steps done */
    long epoch;         /* current epoch (0-based) */
    long position;      /* pairs of this epoch already consumed */
    long total_steps;
} pv_train_state;

/* state.json gets the state and `options` (an object describing the run). */
int pv_checkpoint_save(pv_trainer *t, const pv_train_state *s, const cJSON *options,
                       const char *dir, char *err, size_t errlen);
/* Restores parameters and moments into t (made with the same options) and the
 * state; *options (may be NULL) receives state.json's options object. */
int pv_checkpoint_load(pv_trainer *t, pv_train_state *s, cJSON **options, const char *dir,
                       char *err, size_t errlen);

/* Writes the gradients of every trainable tensor under their names (--save-grads). */
int pv_save_grads(pv_trainer *t, const char *path, char *err, size_t errlen);

#endif
