/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-vol: inspect, verify and write SeaweedFS volume files (.dat/.idx/.vif).
 * One subcommand per file; this file dispatches and holds small shared helpers.
 */
#include <stdarg.h>
#include <string.h>

#include "core/crc32c.h"
#include "kelp_abi.h"
#include "tools/kelp-vol/kelp_vol.h"

static const char usage[] =
	"usage: kelp-vol COMMAND [ARGS]   (kelp-vol COMMAND --help for details)\n"
	"\n"
	"Inspect, verify and write SeaweedFS volumes (N.dat + N.idx [+ N.vif]).\n"
	"\n"
	"  ls VOL.dat [--json]              one line per live needle\n"
	"  verify VOL.dat                   check CRCs, headers, idx/dat agreement (exit 0/1/2)\n"
	"  cat VOL.dat FID [--gunzip]       write a needle's data to stdout\n"
	"  idx FILE.idx [--offset-bytes 4|5] [--json]\n"
	"                                   rows, distinct keys, live, deleted, largest offset\n"
	"  create DIR VID [options] FILE... write a v3 volume from files, print one fid per "
	"needle\n"
	"  create DIR VID --synthetic N --size BYTES[-BYTES]\n"
	"                                   ... or from N generated needles\n"
	"\n"
	"  --version                        print kelp-vol's release and shared-memory ABI "
	"version\n"
	"\n"
	"Exit status: 0 ok, 1 not found / corrupt / failed, 2 usage error or unreadable volume.\n";

void die_msg(const char *fmt, ...)
{
	va_list ap;
	fputs("kelp-vol: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void json_escape(FILE *f, const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c); /* bytes, not UTF-8 decoding: names are opaque */
		else
			fputc(c, f);
	}
}

void print_text(FILE *f, const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '\\')
			fputc(s[i], f);
		else
			fprintf(f, "\\x%02x", s[i]);
	}
}

const char *crc_kind_name(const struct kelp_needle *n)
{
	switch (kelp_crc32c_classify(n->stored_crc, n->data, n->data_size)) {
	case KELP_CRC_RAW:
		return "raw";
	case KELP_CRC_LEGACY:
		return "legacy";
	default:
		return "bad";
	}
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {{"ls", cmd_ls},
		    {"verify", cmd_verify},
		    {"cat", cmd_cat},
		    {"idx", cmd_idx},
		    {"create", cmd_create}};

	if (argc < 2 || is_help(argv[1])) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) { /* KELP_VERSION: the Makefile's, passed with -D */
		printf("kelp-vol %s (shm ABI %u)\n", KELP_VERSION, (unsigned)KELP_ABI_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	die_msg("unknown command '%s'; commands: ls, verify, cat, idx, create (kelp-vol --help)",
		argv[1]);
	return EXIT_USAGE;
}
