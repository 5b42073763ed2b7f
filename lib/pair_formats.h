/* pv-pair's interchange formats, each converted to and from records (DESIGN.md).
 *
 *   records  one record per object: id, image, prompt, chosen, rejected, ...
 *   llava    LLaVA/POVID conversation objects, as in the POVID authors' released
 *            preference file: {id, image, conversations: [{from: "human", value:
 *            "<image>\nPROMPT"}, {from: "gpt", value: CHOSEN}],
 *            rejected_conversations: [same human turn, {from: "gpt", value: REJECTED}]}
 *   trl      TRL's preference layout: {prompt, chosen, rejected, images: [IMAGE]}
 *
 * Every other key passes through unchanged and in place, so llava -> records ->
 * llava (and trl -> records -> trl) gives back the same JSON values. What cannot
 * be carried losslessly is refused as a bad record rather than changed quietly:
 * conversations other than one human turn and one gpt turn, a rejected human turn
 * that differs from the chosen one, more than one TRL image, TRL's conversational
 * (list) prompts, keys that would collide (e.g. a llava object with "prompt").
 *
 * The "<image>\n" prefix of the human turn is removed on import and put back on
 * export when the record has an image and its prompt has no "<image>" of its own
 * (a prompt that places "<image>" elsewhere keeps it where it is). */
#ifndef PV_PAIR_FORMATS_H
#define PV_PAIR_FORMATS_H

#include <cjson/cJSON.h>

typedef enum pv_pair_format {
    PV_PAIR_RECORDS = 0,
    PV_PAIR_LLAVA = 1,
    PV_PAIR_TRL = 2,
} pv_pair_format;

/* "records", "llava", "trl", NULL: indexed by pv_pair_format (for pv_parse_choice). */
extern const char *const pv_pair_format_names[];

/* The format an object looks like: "conversations" means llava; "images" without
 * "image" means trl; anything else is a record. */
pv_pair_format pv_pair_detect(const cJSON *obj);

/* Converts `obj` (in format `fmt`, ownership taken) into a record. Returns the record,
 * or NULL after reporting a bad record as "file:line: message" (pv_bad_record). */
cJSON *pv_pair_import(cJSON *obj, pv_pair_format fmt, const char *file, long line);

/* Converts record `rec` (ownership taken) into format `fmt`; NULL after reporting a
 * bad record, e.g. a llava export of a record without "prompt" or "chosen". */
cJSON *pv_pair_export(cJSON *rec, pv_pair_format fmt, const char *file, long line);

#endif
