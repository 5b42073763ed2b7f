/* The CLIP ViT vision tower of LLaVA, fp32 CPU, as a sequence of lib/ops.h
 * operations: patch embedding (the stride-patch convolution as one matrix product),
 * class and position embeddings, pre_layrnorm, then pre-LN encoder layers
 * (biased multi-head attention, quick_gelu MLP), run only as deep as the feature
 * layer LLaVA reads. */
#ifndef PV_CLIP_H
#define PV_CLIP_H

#include "llava_model.h"

/* Rows pv_clip_features() writes: (image_size / patch_size)^2, + 1 (CLS) when the
 * select strategy is "full". */
int pv_clip_n_selected(const pv_llava_config *cfg);

/* Encoder layers run to reach vision_feature_layer (an index into hidden_states,
 * 0 = embeddings, negative from the end: -2 with 24 layers is 23 layers). -1 if
 * the index is out of range. */
int pv_clip_layers_needed(const pv_llava_config *cfg);

/* pixel_values [channels][image][image] -> selected [pv_clip_n_selected][vision hidden],
 * the hidden state of the feature layer with CLS dropped (strategy "default") or
 * kept ("full"). embeddings (NULL or [patches + 1][vision hidden]) receives the
 * embeddings after pre_layrnorm. 0, or -1 (no memory, bad feature layer). */
int pv_clip_features(const pv_llava_model *m, const float *pixel_values, float *selected,
                     float *embeddings);

#endif
