/* pv-noise: adds POVID's diffusion noise to each record's image (lib/noise.h).
 *
 * Records are processed in batches: the main thread reads a batch, the worker
 * threads load, noise and encode its images in memory, and the main thread then
 * writes the image files and the records in input order. Each record's noise
 * depends only on (--seed, its id), so the output is the same for any -j and
 * any input order. Bad records are reported in input order too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "diag.h"
#include "image.h"
#include "noise.h"
#include "outfile.h"
#include "paths.h"
#include "philox.h"
#include "progress.h"
#include "records.h"

static const char usage[] =
    "Usage: pv-noise [OPTION]... --out-dir DIR [FILE]...\n"
    "       pv-noise [OPTION]... --image IN -o OUT\n"
    "       pv-noise [OPTION]... --print-schedule\n"
    "Add POVID's diffusion noise to each record's image: write the noisy image to\n"
    "DIR and add \"noisy_image\" and \"noise\" to the record. Reads records (JSONL,\n"
    "gzip or not) from the FILEs or standard input, writes them to standard output.\n"
    "\n"
    "Noise:\n"
    "      --schedule NAME    povid (default), linear or cosine\n"
    "      --step T           diffusion step, 0 .. STEPS-1 (default 500)\n"
    "      --steps STEPS      number of steps of the schedule (default 1000)\n"
    "      --seed N           0 .. 2^53-1 (default 0); a record's noise depends only\n"
    "                         on the seed and its id\n"
    "Images:\n"
    "      --out-dir DIR      where the noisy images go (created if missing)\n"
    "      --image-root DIR   resolve relative \"image\" paths against DIR (default: .)\n"
    "      --format FMT       png (default, lossless) or jpg\n"
    "      --quality Q        JPEG quality 1..100 (default 95)\n"
    "  -j, --jobs N           worker threads (default 1); the output does not depend on N\n"
    "Other modes:\n"
    "      --image IN         noise one image file (- for standard input) into -o OUT\n"
    "      --id ID            with --image: use the noise of a record with this id\n"
    "                         (default: the empty id)\n"
    "      --print-schedule   write one JSON object per step: t, beta, alpha_bar,\n"
    "                         sqrt_alpha_bar, sqrt_one_minus_alpha_bar\n"
    "Output and common options:\n"
    "  -o, --output FILE      records (or with --image, the image) to FILE, atomically\n"
    "                         (default: standard output)\n"
    "  -q, --quiet            no progress, no summary\n"
    "      --keep-going       skip bad records (exit status still 1)\n"
    "  -h, --help             show this help\n"
    "      --version          show the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input records or image, 2 usage error, 3 system or\n"
    "I/O error. See pv-noise(1) and pv-records(5).\n";

enum {
    OPT_SCHEDULE, OPT_STEP, OPT_STEPS, OPT_SEED, OPT_OUT_DIR, OPT_IMAGE_ROOT, OPT_FORMAT,
    OPT_QUALITY, OPT_JOBS, OPT_IMAGE, OPT_ID, OPT_PRINT_SCHEDULE, OPT_OUTPUT,
};

static const pv_option opts[] = {
    {"schedule", 0, PV_ARG_REQUIRED, OPT_SCHEDULE},
    {"step", 0, PV_ARG_REQUIRED, OPT_STEP},
    {"steps", 0, PV_ARG_REQUIRED, OPT_STEPS},
    {"seed", 0, PV_ARG_REQUIRED, OPT_SEED},
    {"out-dir", 0, PV_ARG_REQUIRED, OPT_OUT_DIR},
    {"image-root", 0, PV_ARG_REQUIRED, OPT_IMAGE_ROOT},
    {"format", 0, PV_ARG_REQUIRED, OPT_FORMAT},
    {"quality", 0, PV_ARG_REQUIRED, OPT_QUALITY},
    {"jobs", 'j', PV_ARG_REQUIRED, OPT_JOBS},
    {"image", 0, PV_ARG_REQUIRED, OPT_IMAGE},
    {"id", 0, PV_ARG_REQUIRED, OPT_ID},
    {"print-schedule", 0, PV_ARG_NONE, OPT_PRINT_SCHEDULE},
    {"output", 'o', PV_ARG_REQUIRED, OPT_OUTPUT},
    {0},
};

#define MAX_SEED ((1ull << 53) - 1) /* seeds travel in JSON numbers */

typedef struct settings {
    pv_schedule sched;
    int step, steps, quality, jobs;
    uint64_t seed;
    float a, b; /* sqrt(alpha_bar), sqrt(1 - alpha_bar) at step */
    enum pv_image_format fmt;
    bool fmt_given;
    const char *out_dir, *image_root, *output;
} settings;

/* ---- --print-schedule ---------------------------------------------------- */

static void print_schedule(const settings *s)
{
    pv_writer *w = pv_writer_open(s->output ? s->output : "-");
    if (!w)
        pv_exit(PV_EXIT_SYSTEM);
    for (int t = 0; t < s->steps; t++) {
        float a, b;
        pv_noise_coeffs(&s->sched, t, &a, &b);
        char line[256];
        int n = snprintf(line, sizeof line,
                         "{\"t\":%d,\"beta\":%.9g,\"alpha_bar\":%.9g,\"sqrt_alpha_bar\":%.9g,"
                         "\"sqrt_one_minus_alpha_bar\":%.9g}",
                         t, s->sched.beta[t], s->sched.alpha_bar[t], a, b);
        pv_writer_put_line(w, line, (size_t)n);
    }
    pv_writer_close(w);
}

/* ---- --image IN -o OUT ---------------------------------------------------- */

static int filter_image(const settings *s, const char *in, const char *id)
{
    const char *out = s->output ? s->output : "-";
    uint8_t *buf;
    size_t len;
    char err[512];
    uint64_t key = pv_fnv1a64(id, strlen(id));
    if (pv_noise_encode_file(in, s->a, s->b, s->seed, key, s->fmt, s->quality, &buf, &len, err,
                             sizeof err) != 0) {
        pv_error("%s: %s", strcmp(in, "-") ? in : "<stdin>", err);
        return PV_EXIT_BAD_INPUT;
    }
    int rc = pv_write_file_atomic(out, buf, len);
    free(buf);
    return rc == 0 ? PV_EXIT_OK : PV_EXIT_SYSTEM;
}

/* ---- records --------------------------------------------------------------- */

typedef struct job {
    cJSON *rec;
    char *file; /* input name and line, for messages */
    long line;
    char *image;    /* resolved path of "image" */
    char *out_path; /* where the noisy image goes */
    uint64_t key;
    uint8_t *png; /* encoded noisy image */
    size_t png_len;
    char err[600]; /* non-empty: a bad record */
} job;

/* Fills a job from its record: the checks that need no image. */
static void prepare_job(const settings *s, job *j)
{
    char idbuf[64];
    const char *id = pv_rec_id(j->rec, idbuf, sizeof idbuf);
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(j->rec, "image");
    if (!id) {
        snprintf(j->err, sizeof j->err, "missing \"id\" (it names the noise and the output file)");
        return;
    }
    if (!image || cJSON_IsNull(image)) {
        snprintf(j->err, sizeof j->err, "missing \"image\"");
        return;
    }
    if (!cJSON_IsString(image) || image->valuestring[0] == '\0') {
        snprintf(j->err, sizeof j->err, "\"image\" is not a non-empty string");
        return;
    }
    const char *path = image->valuestring;
    if (s->image_root && path[0] != '/')
        j->image = pv_path_join(s->image_root, path);
    else if (strcmp(path, "-") == 0) /* a record's image is a file, never standard input */
        j->image = strdup("./-");
    else
        j->image = strdup(path);
    j->key = pv_fnv1a64(id, strlen(id));
    char name[256];
    pv_noise_file_name(id, s->fmt == PV_IMAGE_JPEG ? "jpg" : "png", name, sizeof name);
    j->out_path = pv_path_join(s->out_dir, name);
}

static void run_job(const settings *s, job *j)
{
    char err[512];
    if (j->err[0])
        return;
    if (pv_noise_encode_file(j->image, s->a, s->b, s->seed, j->key, s->fmt, s->quality, &j->png,
                             &j->png_len, err, sizeof err) != 0)
        snprintf(j->err, sizeof j->err, "%s: %s", j->image, err);
}

static cJSON *noise_object(const settings *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "schedule", pv_schedule_names[s->sched.kind]);
    cJSON_AddNumberToObject(o, "step", s->step);
    cJSON_AddNumberToObject(o, "steps", s->steps);
    cJSON_AddNumberToObject(o, "seed", (double)s->seed);
    return o;
}

/* Writes a finished job in input order; a bad record is reported here. */
static void finish_job(const settings *s, job *j, pv_writer *w, pv_progress *progress)
{
    if (j->err[0]) {
        pv_bad_record(j->file, j->line, "%s", j->err);
    } else {
        if (pv_write_file_atomic(j->out_path, j->png, j->png_len) != 0)
            pv_exit(PV_EXIT_SYSTEM);
        pv_rec_set_string(j->rec, "noisy_image", j->out_path);
        pv_rec_set(j->rec, "noise", noise_object(s));
        pv_writer_put(w, j->rec);
    }
    pv_progress_add(progress, 1);
    cJSON_Delete(j->rec);
    free(j->file);
    free(j->image);
    free(j->out_path);
    free(j->png);
    memset(j, 0, sizeof *j);
}

static void ensure_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return;
        pv_die(PV_EXIT_SYSTEM, "%s: not a directory", dir);
    }
    pv_die(PV_EXIT_SYSTEM, "%s: cannot create directory: %s", dir, strerror(errno));
}

static void noise_records(const settings *s, const char **inputs, int ninputs)
{
    ensure_dir(s->out_dir);
    pv_writer *w = pv_writer_open(s->output ? s->output : "-");
    if (!w)
        pv_exit(PV_EXIT_SYSTEM);
    pv_inputs in;
    pv_inputs_init(&in, inputs, ninputs);
    pv_progress progress;
    pv_progress_start(&progress, "images", 0);
    /* Batches of a few images per thread keep the workers busy without holding
     * many encoded images in memory; the size does not change the output. */
    const int batch = 4 * s->jobs;
    job *jobs = calloc((size_t)batch, sizeof *jobs);
    if (!jobs)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    /* The reader reports malformed lines as it meets them; without --keep-going
     * we still write the records before the bad line, then stop. */
    const bool keep_going = pv_keep_going;
    bool stop = false, end = false;
    while (!end && !stop) {
        int n = 0;
        pv_keep_going = true;
        while (n < batch) {
            cJSON *rec;
            pv_reader *from;
            int rc = pv_inputs_next(&in, &rec, &from);
            if (rc == 0) {
                end = true;
                break;
            }
            if (rc < 0) {
                if (!keep_going) {
                    stop = true;
                    break;
                }
                continue;
            }
            job *j = &jobs[n++];
            j->rec = rec;
            j->file = strdup(pv_reader_name(from));
            j->line = pv_reader_line(from);
            prepare_job(s, j);
        }
        pv_keep_going = keep_going;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s->jobs)
        for (int i = 0; i < n; i++)
            run_job(s, &jobs[i]);
        for (int i = 0; i < n; i++)
            finish_job(s, &jobs[i], w, &progress);
    }
    pv_progress_finish(&progress);
    pv_inputs_close(&in);
    pv_writer_close(w);
    free(jobs);
    if (stop)
        pv_exit(PV_EXIT_BAD_INPUT);
}

/* ---- main ------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int main(int argc, char **argv)
{
    pv_init(argv[0]);
    settings s = {.step = 500, .steps = 1000, .quality = 95, .jobs = 1, .fmt = PV_IMAGE_PNG};
    int kind = PV_SCHEDULE_POVID;
    const char *image = NULL, *id = "";
    bool print = false, step_given = false;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int ninputs = 0;
    static const char *const formats[] = {"png", "jpg", "jpeg", NULL};
    pv_cli cli = pv_cli_start(argc, argv, opts, usage);
    const char *v;
    int opt;
    while ((opt = pv_cli_next(&cli, &v)) != PV_CLI_END) {
        switch (opt) {
        case OPT_SCHEDULE: kind = pv_parse_choice("--schedule", v, pv_schedule_names); break;
        case OPT_STEP: s.step = (int)pv_parse_int("--step", v, 0, 1000000); step_given = true; break;
        case OPT_STEPS: s.steps = (int)pv_parse_int("--steps", v, 2, 1000000); break;
        case OPT_SEED: s.seed = pv_parse_u64("--seed", v); break;
        case OPT_OUT_DIR: s.out_dir = v; break;
        case OPT_IMAGE_ROOT: s.image_root = v; break;
        case OPT_FORMAT:
            s.fmt = pv_parse_choice("--format", v, formats) == 0 ? PV_IMAGE_PNG : PV_IMAGE_JPEG;
            s.fmt_given = true;
            break;
        case OPT_QUALITY: s.quality = (int)pv_parse_int("--quality", v, 1, 100); break;
        case OPT_JOBS: s.jobs = (int)pv_parse_int("--jobs", v, 1, 1024); break;
        case OPT_IMAGE: image = v; break;
        case OPT_ID: id = v; break;
        case OPT_PRINT_SCHEDULE: print = true; break;
        case OPT_OUTPUT: s.output = v; break;
        case PV_CLI_POSITIONAL: inputs[ninputs++] = v; break;
        }
    }
    if (s.seed > MAX_SEED)
        pv_usage_error("--seed must be at most 2^53-1 = %llu (it is written as a JSON number)",
                       (unsigned long long)MAX_SEED);
    if (s.step >= s.steps && !(print && !step_given))
        pv_usage_error("--step %d is not below --steps %d%s", s.step, s.steps,
                       step_given ? "" : " (give --step)");
    if (print && image)
        pv_usage_error("--print-schedule and --image are separate modes");
    if ((print || image) && ninputs > 0)
        pv_usage_error("record files are not read with %s", print ? "--print-schedule" : "--image");
    if (!print && !image && !s.out_dir)
        pv_usage_error("--out-dir is needed to write the noisy images");
    if (image && !s.fmt_given && s.output && (ends_with(s.output, ".jpg") || ends_with(s.output, ".jpeg")))
        s.fmt = PV_IMAGE_JPEG;
    if (s.image_root && strcmp(s.image_root, ".") == 0)
        s.image_root = NULL;
    if (pv_schedule_make(&s.sched, (enum pv_schedule_kind)kind, s.steps) != 0)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (!print) /* --print-schedule ignores --step (which may then be past --steps) */
        pv_noise_coeffs(&s.sched, s.step, &s.a, &s.b);

    int status;
    if (print) {
        print_schedule(&s);
        status = PV_EXIT_OK;
    } else if (image) {
        status = filter_image(&s, image, id);
    } else {
        noise_records(&s, inputs, ninputs);
        status = pv_final_status();
    }
    pv_schedule_free(&s.sched);
    free(inputs);
    return status;
}
