#include "train_io.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "outfile.h"
#include "paths.h"
#include "safetensors.h"


/* Makes dir (one level) unless it exists. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return 0;
    return pv_set_err(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
}

/* A fresh temporary folder beside `dir` (same file system, so rename is atomic). */
static char *make_temp_dir(const char *dir, char *err, size_t errlen)
{
    size_t n = strlen(dir) + 32;
    char *tmp = malloc(n);
    snprintf(tmp, n, "%s.tmp-XXXXXX", dir);
    if (!mkdtemp(tmp)) {
        pv_set_err(err, errlen, "%s: cannot create a folder beside it: %s", dir, strerror(errno));
        free(tmp);
        return NULL;
    }
    return tmp;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a folder this module made (a temporary or a replaced one) and its files. */
static void remove_tree(const char *dir)
{
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        pv_error("%s: could not remove: %s", dir, strerror(errno));
}

/* Renames tmp over dir; an existing dir is moved aside first and removed after. */
static int commit_dir(const char *tmp, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    char old[4096] = "";
    if (stat(dir, &st) == 0) {
        snprintf(old, sizeof old, "%s.old-%ld", dir, (long)getpid());
        if (rename(dir, old) != 0)
            return pv_set_err(err, errlen, "%s: cannot replace: %s", dir, strerror(errno));
    }
    if (rename(tmp, dir) != 0) {
        int e = errno;
        if (*old)
            rename(old, dir);
        return pv_set_err(err, errlen, "%s: cannot rename into place: %s", dir, strerror(e));
    }
    if (*old)
        remove_tree(old);
    return 0;
}

static int write_json(const char *path, const cJSON *json, char *err, size_t errlen)
{
    char *text = cJSON_Print(json);
    if (!text)
        return pv_set_err(err, errlen, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = pv_write_file_atomic(path, text, n + 1);
    free(text);
    return rc == 0 ? 0 : pv_set_err(err, errlen, "%s: cannot write", path);
}

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    size_t len;
    char *buf = pv_read_file(from, &len);
    if (!buf)
        return pv_set_err(err, errlen, "%s: %s", from, strerror(errno));
    int rc = pv_write_file_atomic(to, buf, len);
    free(buf);
    return rc == 0 ? 0 : pv_set_err(err, errlen, "%s: cannot write", to);
}

static pv_st_out param_out(const char *name, const float *data, int ndim, const long long *shape)
{
    pv_st_out o = {.name = name, .data = data, .ndim = ndim};
    for (int d = 0; d < ndim; d++)
        o.shape[d] = shape[d];
    return o;
}

static const char *const projector_prefix = "base_model.model.";

int pv_save_adapter(const pv_trainer *t, const char *dir, const char *base_model, char *err,
                    size_t errlen)
{
    size_t np;
    pv_train_param *p = pv_trainer_params((pv_trainer *)t, &np);
    const pv_trainer_opts *o = pv_trainer_options(t);
    pv_st_out *lora = calloc(np, sizeof *lora), *proj = calloc(np, sizeof *proj);
    size_t nl = 0, nproj = 0;
    for (size_t i = 0; i < np; i++) {
        if (p[i].projector)
            proj[nproj++] = param_out(p[i].name + strlen(projector_prefix), p[i].data, p[i].ndim,
                                      p[i].shape);
        else
            lora[nl++] = param_out(p[i].name, p[i].data, p[i].ndim, p[i].shape);
    }
    int rc = -1;
    const char *tmp = dir;
    if (make_dir(dir, err, errlen) != 0)
        goto out;

    /* Which modules carry adapters: the regex PEFT matches against module names. */
    static const char *const mods[] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                       "gate_proj", "up_proj", "down_proj"};
    char regex[256] = ".*language_model.*\\.(";
    bool first = true;
    for (int j = 0; j < 7; j++) {
        bool present = false;
        char needle[64];
        snprintf(needle, sizeof needle, ".%s.lora_A", mods[j]);
        for (size_t i = 0; i < nl; i++)
            present |= strstr(lora[i].name, needle) != NULL;
        if (present) {
            strcat(regex, first ? "" : "|");
            strcat(regex, mods[j]);
            first = false;
        }
    }
    strcat(regex, ")");
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "peft_type", "LORA");
    cJSON_AddNullToObject(cfg, "task_type");
    if (base_model)
        cJSON_AddStringToObject(cfg, "base_model_name_or_path", base_model);
    else
        cJSON_AddNullToObject(cfg, "base_model_name_or_path");
    cJSON_AddNumberToObject(cfg, "r", o->lora_r);
    cJSON_AddNumberToObject(cfg, "lora_alpha", o->lora_alpha);
    cJSON_AddNumberToObject(cfg, "lora_dropout", o->lora_dropout);
    cJSON_AddStringToObject(cfg, "target_modules", regex);
    cJSON_AddStringToObject(cfg, "bias", "none");
    cJSON_AddBoolToObject(cfg, "fan_in_fan_out", false);
    cJSON_AddBoolToObject(cfg, "inference_mode", true);
    cJSON_AddBoolToObject(cfg, "init_lora_weights", true);
    cJSON_AddBoolToObject(cfg, "use_rslora", false);
    cJSON_AddBoolToObject(cfg, "use_dora", false);
    cJSON_AddNullToObject(cfg, "modules_to_save");
    cJSON_AddNullToObject(cfg, "layers_to_transform");
    cJSON_AddNullToObject(cfg, "layers_pattern");
    cJSON_AddItemToObject(cfg, "rank_pattern", cJSON_CreateObject());
    cJSON_AddItemToObject(cfg, "alpha_pattern", cJSON_CreateObject());
    cJSON_AddNullToObject(cfg, "revision");

    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", tmp);
    rc = write_json(path, cfg, err, errlen);
    cJSON_Delete(cfg);
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "pt");
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", tmp);
    if (rc == 0 && pv_st_write(path, lora, nl, meta) != 0)
        rc = pv_set_err(err, errlen, "%s: cannot write", path);
    snprintf(path, sizeof path, "%s/projector.safetensors", tmp);
    if (rc == 0 && nproj && pv_st_write(path, proj, nproj, meta) != 0)
        rc = pv_set_err(err, errlen, "%s: cannot write", path);
    cJSON_Delete(meta);
out:
    free(lora);
    free(proj);
    return rc;
}

int pv_save_model_dir(const pv_llava_model *m, const char *src_dir, const char *dir, char *err,
                      size_t errlen)
{
    size_t np;
    const pv_llava_param *p = pv_llava_params(m, &np);
    pv_st_out *outs = calloc(np + 1, sizeof *outs);
    size_t n = 0;
    for (size_t i = 0; i < np; i++)
        outs[n++] = param_out(p[i].name, p[i].data, p[i].ndim, p[i].shape);
    int rc = -1;
    const char *tmp = dir;
    if (make_dir(dir, err, errlen) != 0)
        goto out;
    char from[4096], to[4096];
    rc = 0;
    static const char *const copied[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                         "special_tokens_map.json", "preprocessor_config.json",
                                         "chat_template.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied && rc == 0; i++) {
        snprintf(from, sizeof from, "%s/%s", src_dir, copied[i]);
        snprintf(to, sizeof to, "%s/%s", tmp, copied[i]);
        if (access(from, R_OK) == 0)
            rc = copy_file(from, to, err, errlen);
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "pt");
    snprintf(to, sizeof to, "%s/model.safetensors", tmp);
    if (rc == 0 && pv_st_write(to, outs, n, meta) != 0)
        rc = pv_set_err(err, errlen, "%s: cannot write", to);
    cJSON_Delete(meta);
out:
    free(outs);
    return rc;
}

int pv_load_adapter_dir(pv_llava_model *m, const char *dir, char *err, size_t errlen)
{
    if (pv_llava_load_adapter(m, dir, err, errlen) != 0)
        return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/projector.safetensors", dir);
    if (access(path, F_OK) != 0)
        return 0;
    pv_st_file f;
    if (pv_st_open(path, &f, err, errlen) != 0)
        return -1;
    pv_linear *lins[2] = {&m->proj1, &m->proj2};
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        for (int b = 0; b < 2 && rc == 0; b++) {
            char name[128];
            snprintf(name, sizeof name, "model.multi_modal_projector.linear_%d.%s", k + 1,
                     b ? "bias" : "weight");
            const pv_st_tensor *st = pv_st_find(&f, name);
            float *dst = b ? lins[k]->b : lins[k]->w;
            size_t want = b ? (size_t)lins[k]->out : (size_t)lins[k]->out * lins[k]->in;
            if (!st || !dst) {
                if (st || !b)
                    rc = pv_set_err(err, errlen, "%s: no tensor %s", path, name);
                continue;
            }
            if ((size_t)st->numel != want)
                rc = pv_set_err(err, errlen, "%s: %s has %lld values, the model's has %zu", path, name,
                          (long long)st->numel, want);
            else
                rc = pv_st_to_f32(st, dst, err, errlen);
        }
    }
    pv_st_close(&f);
    return rc;
}

int pv_checkpoint_save(pv_trainer *t, const pv_train_state *s, const cJSON *options,
                       const char *dir, char *err, size_t errlen)
{
    size_t np;
    pv_train_param *p = pv_trainer_params(t, &np);
    pv_st_out *outs = calloc(3 * np, sizeof *outs);
    char **names = calloc(3 * np, sizeof *names);
    static const char *const kinds[3] = {"param", "adam_m", "adam_v"};
    for (size_t i = 0; i < np; i++)
        for (int k = 0; k < 3; k++) {
            size_t j = 3 * i + k;
            size_t len = strlen(p[i].name) + 16;
            names[j] = malloc(len);
            snprintf(names[j], len, "%s/%s", kinds[k], p[i].name);
            const float *data = k == 0 ? p[i].data : k == 1 ? p[i].m : p[i].v;
            outs[j] = param_out(names[j], data, p[i].ndim, p[i].shape);
        }
    int rc = -1;
    char *tmp = make_temp_dir(dir, err, errlen);
    if (tmp) {
        char path[4096];
        snprintf(path, sizeof path, "%s/trainer.safetensors", tmp);
        rc = pv_st_write(path, outs, 3 * np, NULL) == 0 ? 0
                                                         : pv_set_err(err, errlen, "%s: cannot write", path);
        cJSON *state = cJSON_CreateObject();
        cJSON_AddNumberToObject(state, "step", (double)s->step);
        cJSON_AddNumberToObject(state, "epoch", (double)s->epoch);
        cJSON_AddNumberToObject(state, "position", (double)s->position);
        cJSON_AddNumberToObject(state, "total_steps", (double)s->total_steps);
        if (options)
            cJSON_AddItemToObject(state, "options", cJSON_Duplicate(options, true));
        snprintf(path, sizeof path, "%s/state.json", tmp);
        if (rc == 0)
            rc = write_json(path, state, err, errlen);
        cJSON_Delete(state);
        if (rc == 0)
            rc = commit_dir(tmp, dir, err, errlen);
        if (rc != 0)
            remove_tree(tmp);
        free(tmp);
    }
    for (size_t j = 0; j < 3 * np; j++)
        free(names[j]);
    free(names);
    free(outs);
    return rc;
}

static long json_long(const cJSON *o, const char *k, bool *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
        *ok = false;
        return 0;
    }
    return (long)v->valuedouble;
}

int pv_checkpoint_load(pv_trainer *t, pv_train_state *s, cJSON **options, const char *dir,
                       char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/state.json", dir);
    char *text = pv_read_file(path, NULL);
    if (!text)
        return pv_set_err(err, errlen, "%s: %s", path, strerror(errno));
    cJSON *state = cJSON_Parse(text);
    free(text);
    bool ok = state != NULL;
    if (ok) {
        s->step = json_long(state, "step", &ok);
        s->epoch = json_long(state, "epoch", &ok);
        s->position = json_long(state, "position", &ok);
        s->total_steps = json_long(state, "total_steps", &ok);
    }
    if (!ok) {
        cJSON_Delete(state);
        return pv_set_err(err, errlen, "%s: not a pv-dpo checkpoint state", path);
    }
    if (options)
        *options = cJSON_DetachItemFromObjectCaseSensitive(state, "options");
    cJSON_Delete(state);

    snprintf(path, sizeof path, "%s/trainer.safetensors", dir);
    pv_st_file f;
    if (pv_st_open(path, &f, err, errlen) != 0)
        return -1;
    size_t np;
    pv_train_param *p = pv_trainer_params(t, &np);
    int rc = 0;
    static const char *const kinds[3] = {"param", "adam_m", "adam_v"};
    for (size_t i = 0; i < np && rc == 0; i++)
        for (int k = 0; k < 3 && rc == 0; k++) {
            char name[1024];
            snprintf(name, sizeof name, "%s/%s", kinds[k], p[i].name);
            const pv_st_tensor *st = pv_st_find(&f, name);
            if (!st || (size_t)st->numel != p[i].n) {
                rc = pv_set_err(err, errlen, "%s: %s missing or of another size (was the checkpoint "
                                       "made with other options?)", path, name);
                break;
            }
            float *dst = k == 0 ? p[i].data : k == 1 ? p[i].m : p[i].v;
            rc = pv_st_to_f32(st, dst, err, errlen);
        }
    if (rc == 0 && f.count != 3 * np)
        rc = pv_set_err(err, errlen, "%s: %zu tensors, this run trains %zu (other options?)", path,
                  f.count / 3, np);
    pv_st_close(&f);
    return rc;
}

int pv_save_grads(pv_trainer *t, const char *path, char *err, size_t errlen)
{
    size_t np;
    pv_train_param *p = pv_trainer_params(t, &np);
    pv_st_out *outs = calloc(np, sizeof *outs);
    for (size_t i = 0; i < np; i++)
        outs[i] = param_out(p[i].name, p[i].grad, p[i].ndim, p[i].shape);
    int rc = pv_st_write(path, outs, np, NULL) == 0 ? 0 : pv_set_err(err, errlen, "%s: cannot write", path);
    free(outs);
    return rc;
}
