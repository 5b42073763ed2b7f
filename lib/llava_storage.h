/* Loader-private bookkeeping behind pv_llava_model.storage, shared by
 * lib/llava_load.c (base weights) and lib/lora.c (adapters). Not for tools. */
#ifndef PV_LLAVA_STORAGE_H
#define PV_LLAVA_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "llava_model.h"
#include "safetensors.h"

typedef struct pv_named_linear {
    char *name;      /* module path in the newer hub layout */
    pv_linear *lin;
} pv_named_linear;

typedef struct pv_llava_storage {
    pv_st_set set;               /* base weight files (closed when nothing points into them) */
    void **owned;                /* malloc'd buffers freed with the model */
    size_t nowned, owned_cap;
    pv_llava_param *params;      /* every weight, in load order */
    size_t nparams, params_cap;
    pv_named_linear *linears;    /* every linear layer, in load order */
    size_t nlinears, linears_cap;
    bool has_adapter;
} pv_llava_storage;

/* Takes ownership of buf (freed with the model). 0, or -1 when out of memory (buf freed). */
int pv_storage_own(pv_llava_storage *s, void *buf);
/* Rewrites a tensor or module name of either layout into the newer hub layout
 * (model.vision_tower.*, model.multi_modal_projector.*, model.language_model.*,
 * lm_head.*). 0, or -1 when the name is not part of a LLaVA model. */
int pv_llava_canonical_name(const char *name, char *out, size_t outlen);

#endif
