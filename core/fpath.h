/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filer paths as kelp accepts them (shm/kelp.h, "files by path"): checked the same way by libkelp
 * before it queues a request and by kelpd on its own copy of the bytes (the client's copy is not
 * trusted).
 */
#ifndef KELP_CORE_FPATH_H
#define KELP_CORE_FPATH_H

#include <stddef.h>

/* Mirrors of KELP_PATH_MAX / KELP_NAME_MAX (kelp.h; core/ does not include shm/). */
#define KELP_FPATH_MAX 4096
#define KELP_FNAME_MAX 255

/*
 * kelp_fpath_check - check the @len bytes at @p as a filer path: 1..KELP_FPATH_MAX bytes, starts
 * with "/", no NUL byte, no empty ("//"), "." or ".." component, no trailing "/" except "/"
 * itself; no component longer than KELP_FNAME_MAX. Any thread; pure.
 * Return: 0; -ENAMETOOLONG (path or a component too long); -EINVAL otherwise.
 */
int kelp_fpath_check(const char *p, size_t len);

/*
 * kelp_fname_check - check @len bytes as one directory entry name (LIST's "after"): 0..
 * KELP_FNAME_MAX bytes, no NUL and no "/". Any thread; pure.
 * Return: 0; -ENAMETOOLONG; -EINVAL.
 */
int kelp_fname_check(const char *p, size_t len);

#endif
