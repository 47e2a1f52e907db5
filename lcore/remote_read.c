/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The non-local read path as it stands before the HTTP fallback (issue 4) exists: no path is
 * configured, so every non-local read completes at once with -EHOSTUNREACH ("volume not local, no
 * fallback configured"). The HTTP fallback replaces the bodies of these three functions.
 */
#include <errno.h>

#include "lcore/control.h"
#include "lcore/remote_read.h"

int kelp_ctl_remote_init(struct kelp_control *ctl)
{
	return 0;
}

void kelp_ctl_remote_fini(struct kelp_control *ctl)
{
}

int kelp_ctl_remote_read(struct kelp_control *ctl, struct kelp_remote_read *req)
{
	return -EHOSTUNREACH;
}
