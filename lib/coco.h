/* Ground truth from COCO annotation files, for CHAIR.
 *
 * Reads instances_*.json (images, annotations with image_id and category_id,
 * categories with id and name) and captions_*.json (images, annotations with
 * image_id and caption) with a streaming JSON scanner: the document is never
 * built in memory, only image ids and (image, category) pairs are kept, so the
 * 450 MB instances_train2014.json, mostly segmentation polygons, is read in
 * about 20 MB (16 bytes per annotation). Category names are mapped through the lexicon; each human
 * caption contributes the objects it mentions (CHAIR counts those as ground
 * truth too).
 *
 * Files may be gzip-compressed (zlib reads plain files unchanged).
 *
 * Errors (a file that cannot be read, malformed JSON, an annotation without
 * image_id, a category the lexicon does not know) come back as a message
 * "file:line: byte N: what" in err (line and byte of the decompressed text). */
#ifndef PV_COCO_H
#define PV_COCO_H

#include <stddef.h>

#include "lexicon.h"

typedef struct pv_coco pv_coco;

pv_coco *pv_coco_new(const pv_lexicon *lex);
void pv_coco_free(pv_coco *c);

/* Adds the ground truth of one file. Return 0, or -1 with err set. */
int pv_coco_read_instances(pv_coco *c, const char *path, char *err, size_t errlen);
int pv_coco_read_captions(pv_coco *c, const char *path, char *err, size_t errlen);

/* The lexicon categories of an image, sorted and distinct: writes at most max,
 * returns how many there are, or -1 when the files do not know the image. */
int pv_coco_objects(pv_coco *c, long long image_id, int *cats, int max);
/* Number of distinct images known: listed in "images" or annotated. */
size_t pv_coco_images(pv_coco *c);

/* COCO image id of an image file name: the digits that end its base name
 * before the extension ("COCO_train2014_000000123456.jpg", "000000123456.jpg",
 * "dir/123.png" -> 123456, 123456, 123); -1 when there are none. */
long long pv_coco_image_id_from_name(const char *name);

#endif
