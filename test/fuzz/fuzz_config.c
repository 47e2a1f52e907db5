/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the configuration parser (core/config.c on inih).
 * Input: INI text (NULs cut it short). Also the first line is tried as a "section.key=value"
 * command-line override.
 * Oracle: no crash or leak; errors are reported as "name:LINE: ..." lines; every key's value can be
 * formatted and parsed back to the same text.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	struct kelp_config c;
	char err[2048];
	if (kelp_config_init(&c)) {
		free(text);
		return 0;
	}
	int rc = kelp_config_load_string(&c, "fuzz.conf", text, err, sizeof(err));
	if (rc && rc != -EINVAL && rc != -ENOMEM)
		abort();
	if (rc == -EINVAL && strncmp(err, "fuzz.conf:", 10) != 0)
		abort();
	char *nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	(void)kelp_config_set(&c, text, err, sizeof(err));

	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		char a[8192], b[8192], why[512];
		if (kelp_config_format(&c, &keys[i], a, sizeof(a)) >= (int)sizeof(a))
			continue;
		struct kelp_config d;
		if (kelp_config_init(&d))
			continue;
		/* names in id lists format as numbers; everything formats to re-parsable text */
		if (kelp_config_set_value(&d, keys[i].section, keys[i].key, a, why, sizeof(why)) ==
		    0) {
			kelp_config_format(&d, &keys[i], b, sizeof(b));
			if (strcmp(a, b))
				abort();
		} else if (keys[i].type != KELP_CONF_STRING) {
			abort(); /* a value we accepted must be accepted again */
		}
		kelp_config_free(&d);
	}
	kelp_config_free(&c);
	free(text);
	return 0;
}
