/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-vol: shared declarations of the subcommands (one file each). */
#ifndef KELP_VOL_H
#define KELP_VOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/needle.h"

/* Exit codes shared by all subcommands. */
#define EXIT_OK	   0
#define EXIT_FAIL  1 /* the thing asked about is missing, corrupt, or the input is wrong */
#define EXIT_USAGE 2 /* bad command line, or files that cannot be read as a volume */

int cmd_ls(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_idx(int argc, char **argv);
int cmd_create(int argc, char **argv);

/* "kelp-vol: " + message to stderr. */
void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when argv[i] is -h or --help. */
bool is_help(const char *arg);

/* Print @len bytes of @s as a JSON string body (escaped, no quotes) to @f. */
void json_escape(FILE *f, const uint8_t *s, size_t len);

/* Print @len bytes as text for a human: printable ASCII kept, the rest as \xNN. */
void print_text(FILE *f, const uint8_t *s, size_t len);

/* "raw", "legacy" or "bad" for the needle's stored CRC. */
const char *crc_kind_name(const struct kelp_needle *n);

struct kelp_volume;

/*
 * Open @dat_path as a volume; on failure print why (naming the file and what to do) and return
 * EXIT_USAGE, else 0.
 */
int open_volume(const char *dat_path, struct kelp_volume **out);

/* Read the whole file @path into malloc'd memory. @return 0 or -errno (message printed). */
int read_file(const char *path, uint8_t **data, size_t *len);

/* "<dir>/N.dat" -> "<dir>/N.<ext>" into @buf (@size bytes). @return 0 or -ENAMETOOLONG. */
int sibling_path(const char *dat_path, const char *ext, char *buf, size_t size);

/*
 * Call @fn for every live needle of @v in file order (.idx row order when the volume has an .idx,
 * else .dat record order), with the needle parsed. Stops when @fn returns non-zero and returns
 * that.
 */
int for_each_live(struct kelp_volume *v,
		  int (*fn)(void *arg, uint64_t offset, const struct kelp_needle *n), void *arg);

#endif
