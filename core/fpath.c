/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "core/fpath.h"

int kelp_fpath_check(const char *p, size_t len)
{
	if (len > KELP_FPATH_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || p[0] != '/')
		return -EINVAL;
	if (len == 1)
		return 0; /* "/" */
	if (memchr(p, '\0', len) || p[len - 1] == '/')
		return -EINVAL;
	/* every component between two "/" (or the end) */
	size_t start = 1;
	for (size_t i = 1; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		size_t n = i - start;
		if (n == 0)
			return -EINVAL; /* "//" */
		if (n > KELP_FNAME_MAX)
			return -ENAMETOOLONG;
		if ((n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

int kelp_fname_check(const char *p, size_t len)
{
	if (len > KELP_FNAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(p, '\0', len) || memchr(p, '/', len))
		return -EINVAL;
	return 0;
}
