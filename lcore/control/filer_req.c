/* SPDX-License-Identifier: Apache-2.0 */
/* Path requests on the control thread (filer_req.h). Control thread only, all of it. */
#include <errno.h>

#include "lcore/control/filer_req.h"

int kelp_ctl_filer_request(struct kelp_control *ctl, struct kelp_remote_read *req)
{
	(void)ctl;
	(void)req;
	return -ENOTCONN; /* no [filer] address: the filer client comes with issue 11's next step */
}
