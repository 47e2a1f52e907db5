/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SeaweedFS file ids ("3,01637037d6"): parse and format.
 *
 * Forms accepted by kelp_fid_parse() (see ../shared/docs/seaweedfs.md, "File ids"):
 *   "3,01637037d6", "/3,01637037d6", "3,01637037d6.jpg", "3/01637037d6/name.jpg",
 *   "3,01637037d6_5" (the _N suffix adds decimal N to the key).
 * The last 8 hex digits are the cookie; the hex before them (1..16 digits) is the key.
 */
#ifndef KELP_CORE_FID_H
#define KELP_CORE_FID_H

/*
 * struct kelp_fid, KELP_FID_STR_MAX, kelp_fid_parse() and kelp_fid_format() are part of the public
 * client API, so they are declared (and documented) once, in kelp.h; core/fid.c implements them.
 */
#include "kelp.h"

#endif
