/* PEFT LoRA adapters: attach (kept beside the base weights, not merged) and merge.
 *
 * adapter_config.json gives r, lora_alpha, use_rslora and target_modules (a list
 * of module-name suffixes, or a regular expression that must match the whole
 * module name, as peft does). adapter_model.safetensors holds, for each adapted
 * linear, base_model.model.<module path>.lora_A.weight [r, in] and .lora_B.weight
 * [out, r]; the module path may be in either naming layout. The tensors decide
 * which layers are adapted; target_modules is checked against them. Whatever
 * this code does not implement (DoRA, per-module ranks or alphas, LoRA biases,
 * fan_in_fan_out, modules_to_save) is refused rather than silently ignored. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llava_model.h"
#include "diag.h"
#include "llava_storage.h"
#include "paths.h"

typedef struct adapter_config {
    int r;
    double alpha;
    bool rslora;
    cJSON *targets; /* string (regex) or array of strings; NULL: no check */
} adapter_config;

static char *slurp(const char *path, char *err, size_t errlen)
{
    char *text = pv_read_file(path, NULL);
    if (!text)
        pv_set_err(err, errlen, "%s: %s", path, strerror(errno));
    return text;
}

/* A field that must be absent, null, false, empty, or equal to `ok`. */
static bool unset(const cJSON *v, const char *ok)
{
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
        return true;
    if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child)
        return true;
    return ok && cJSON_IsString(v) && strcmp(v->valuestring, ok) == 0;
}

static int read_adapter_config(const char *path, adapter_config *c, cJSON **root, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (!text)
        return -1;
    *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(*root))
        return pv_set_err(err, errlen, "%s: not a JSON object", path);
    const cJSON *o = *root;
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(o, "peft_type");
    if (pt && !(cJSON_IsString(pt) && strcmp(pt->valuestring, "LORA") == 0))
        return pv_set_err(err, errlen, "%s: peft_type is not \"LORA\"", path);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "r");
    if (!cJSON_IsNumber(r) || r->valuedouble != floor(r->valuedouble) || r->valuedouble < 1 ||
        r->valuedouble > 1 << 20)
        return pv_set_err(err, errlen, "%s: \"r\" must be a positive integer", path);
    c->r = (int)r->valuedouble;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "lora_alpha");
    if (a && !cJSON_IsNumber(a))
        return pv_set_err(err, errlen, "%s: \"lora_alpha\" must be a number", path);
    c->alpha = a ? a->valuedouble : 8; /* peft's default */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "use_rslora");
    if (rs && !cJSON_IsBool(rs) && !cJSON_IsNull(rs))
        return pv_set_err(err, errlen, "%s: \"use_rslora\" must be true or false", path);
    c->rslora = cJSON_IsTrue(rs);
    static const struct {
        const char *key, *ok, *what;
    } refused[] = {
        {"use_dora", NULL, "DoRA (use_dora)"},
        {"fan_in_fan_out", NULL, "fan_in_fan_out"},
        {"rank_pattern", NULL, "per-module ranks (rank_pattern)"},
        {"alpha_pattern", NULL, "per-module alphas (alpha_pattern)"},
        {"modules_to_save", NULL, "modules_to_save"},
        {"lora_bias", NULL, "LoRA biases (lora_bias)"},
        {"bias", "none", "trained biases (bias other than \"none\")"},
        {"target_parameters", NULL, "target_parameters"},
        {"trainable_token_indices", NULL, "trainable_token_indices"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (!unset(cJSON_GetObjectItemCaseSensitive(o, refused[i].key), refused[i].ok))
            return pv_set_err(err, errlen, "%s: %s is unsupported", path, refused[i].what);
    cJSON *tm = cJSON_GetObjectItemCaseSensitive(o, "target_modules");
    if (tm && !cJSON_IsNull(tm)) {
        if (cJSON_IsArray(tm)) {
            for (const cJSON *e = tm->child; e; e = e->next)
                if (!cJSON_IsString(e))
                    return pv_set_err(err, errlen, "%s: target_modules must hold strings", path);
        } else if (!cJSON_IsString(tm))
            return pv_set_err(err, errlen, "%s: target_modules must be a list or a string", path);
        c->targets = tm;
    }
    return 0;
}

/* Python's re and POSIX ERE agree on the patterns peft writes (.* and \. and
 * groups with alternation) but not on Python's own escapes (\d, \w, (?:...)):
 * those patterns are not checked here. */
static bool ere_compatible(const char *pat)
{
    for (const char *p = pat; *p; p++) {
        if (*p == '(' && p[1] == '?')
            return false;
        if (*p == '\\') {
            if (!p[1] || !strchr(".[](){}*+?|^$\\/-", p[1]))
                return false;
            p++;
        }
    }
    return true;
}

/* peft's rule: a string is a regular expression matched against the whole module
 * name; a list matches a name equal to an entry or ending in "." + entry.
 * Returns 1 match, 0 no match, -1 when the expression is beyond POSIX ERE
 * (then the check is skipped: the tensors still decide). */
static int target_matches(const cJSON *targets, const char *module)
{
    if (!targets)
        return 1;
    if (cJSON_IsString(targets)) {
        if (strcmp(targets->valuestring, "all-linear") == 0)
            return 1; /* peft's shorthand: every linear but the output layer */
        if (!ere_compatible(targets->valuestring))
            return -1;
        size_t n = strlen(targets->valuestring) + 8;
        char *pat = malloc(n);
        if (!pat)
            return -1;
        snprintf(pat, n, "^(%s)$", targets->valuestring);
        regex_t re;
        int rc = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
        free(pat);
        if (rc != 0)
            return -1;
        rc = regexec(&re, module, 0, NULL, 0) == 0;
        regfree(&re);
        return rc;
    }
    size_t ml = strlen(module);
    for (const cJSON *e = targets->child; e; e = e->next) {
        size_t tl = strlen(e->valuestring);
        if (strcmp(module, e->valuestring) == 0 ||
            (ml > tl && module[ml - tl - 1] == '.' && strcmp(module + ml - tl, e->valuestring) == 0))
            return 1;
    }
    return 0;
}

/* Splits "base_model.model.<module>.lora_{A,B}[.default].weight" into module and
 * which (0 = A, 1 = B). */
static int split_lora_name(const char *name, char *module, size_t modlen, int *which)
{
    static const char prefix[] = "base_model.model.";
    static const char *suffixes[] = {".lora_A.weight", ".lora_B.weight", ".lora_A.default.weight",
                                     ".lora_B.default.weight"};
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return -1;
    const char *body = name + sizeof prefix - 1;
    size_t bl = strlen(body);
    for (int i = 0; i < 4; i++) {
        size_t sl = strlen(suffixes[i]);
        if (bl > sl && strcmp(body + bl - sl, suffixes[i]) == 0 && bl - sl < modlen) {
            memcpy(module, body, bl - sl);
            module[bl - sl] = 0;
            *which = i % 2;
            return 0;
        }
    }
    return -1;
}

int pv_llava_load_adapter(pv_llava_model *m, const char *adapter_dir, char *err, size_t errlen)
{
    pv_llava_storage *s = m->storage;
    if (!s)
        return pv_set_err(err, errlen, "%s: no model loaded", adapter_dir);
    if (s->has_adapter)
        return pv_set_err(err, errlen, "%s: the model already has an adapter", adapter_dir);
    size_t plen = strlen(adapter_dir) + 64;
    char *path = malloc(plen);
    if (!path)
        return pv_set_err(err, errlen, "out of memory");
    adapter_config cfg = {0};
    cJSON *root = NULL;
    snprintf(path, plen, "%s/adapter_config.json", adapter_dir);
    int rc = read_adapter_config(path, &cfg, &root, err, errlen);
    pv_st_file f = {0};
    if (rc == 0) {
        snprintf(path, plen, "%s/adapter_model.safetensors", adapter_dir);
        rc = pv_st_open(path, &f, err, errlen);
    }
    /* pending[i]: A and B found for linear i (checked pairwise at the end) */
    size_t nl = s->nlinears;
    float **a = calloc(nl ? nl : 1, sizeof *a), **b = calloc(nl ? nl : 1, sizeof *b);
    if (rc == 0 && (!a || !b))
        rc = pv_set_err(err, errlen, "out of memory");
    char module[512], canon[512];
    for (size_t i = 0; rc == 0 && i < f.count; i++) {
        const pv_st_tensor *t = &f.tensors[i];
        int which;
        if (split_lora_name(t->name, module, sizeof module, &which) != 0) {
            rc = pv_set_err(err, errlen, "%s: tensor \"%s\" is not a LoRA weight (base_model.model.<module>.lora_A/B.weight)",
                      path, t->name);
            break;
        }
        size_t li = nl;
        if (pv_llava_canonical_name(module, canon, sizeof canon) == 0)
            for (li = 0; li < nl; li++)
                if (strcmp(s->linears[li].name, canon) == 0)
                    break;
        if (li == nl) {
            rc = pv_set_err(err, errlen, "%s: tensor \"%s\": the model has no linear layer \"%s\"", path, t->name, module);
            break;
        }
        if (target_matches(cfg.targets, module) == 0) {
            rc = pv_set_err(err, errlen, "%s: tensor \"%s\": module \"%s\" is not selected by target_modules", path,
                      t->name, module);
            break;
        }
        const pv_linear *lin = s->linears[li].lin;
        int64_t want0 = which ? lin->out : cfg.r, want1 = which ? cfg.r : lin->in;
        if (t->ndim != 2 || t->shape[0] != want0 || t->shape[1] != want1) {
            rc = pv_set_err(err, errlen, "%s: tensor \"%s\" should have shape [%lld, %lld] (r = %d, layer %d -> %d)", path,
                      t->name, (long long)want0, (long long)want1, cfg.r, lin->in, lin->out);
            break;
        }
        float *buf = malloc((size_t)t->numel * sizeof *buf);
        if (!buf || pv_storage_own(s, buf) != 0) {
            rc = pv_set_err(err, errlen, "out of memory");
            break;
        }
        char msg[256];
        if (pv_st_to_f32(t, buf, msg, sizeof msg) != 0) {
            rc = pv_set_err(err, errlen, "%s: %s", path, msg);
            break;
        }
        (which ? b : a)[li] = buf;
    }
    size_t attached = 0;
    for (size_t li = 0; rc == 0 && li < nl; li++) {
        if (!a[li] != !b[li])
            rc = pv_set_err(err, errlen, "%s: layer \"%s\" has lora_%s but not lora_%s", path, s->linears[li].name,
                      a[li] ? "A" : "B", a[li] ? "B" : "A");
        else if (a[li])
            attached++;
    }
    if (rc == 0 && attached == 0)
        rc = pv_set_err(err, errlen, "%s: no LoRA weights", path);
    if (rc == 0) {
        /* peft: alpha / r, or alpha / sqrt(r) with rsLoRA */
        float scale = (float)(cfg.rslora ? cfg.alpha / sqrt((double)cfg.r) : cfg.alpha / cfg.r);
        for (size_t li = 0; li < nl; li++)
            if (a[li]) {
                pv_linear *lin = s->linears[li].lin;
                lin->r = cfg.r;
                lin->scale = scale;
                lin->lora_a = a[li];
                lin->lora_b = b[li];
            }
        s->has_adapter = true;
    }
    /* On failure the converted buffers stay owned by the model until it is freed. */
    free(a);
    free(b);
    pv_st_close(&f);
    cJSON_Delete(root);
    free(path);
    return rc;
}

int pv_llava_merge_lora(pv_llava_model *m, char *err, size_t errlen)
{
    pv_llava_storage *s = m->storage;
    if (!s)
        return pv_set_err(err, errlen, "no model loaded");
    for (size_t i = 0; i < s->nlinears; i++) {
        pv_linear *l = s->linears[i].lin;
        if (l->r <= 0)
            continue;
        /* W[out][in] += scale * B[out][r] A[r][in] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->out, l->in, l->r, l->scale, l->lora_b, l->r,
                    l->lora_a, l->in, 1.0f, l->w, l->in);
        l->r = 0;
        l->scale = 0;
        l->lora_a = l->lora_b = NULL;
    }
    s->has_adapter = false;
    return 0;
}
