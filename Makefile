# kelp — top-level build. `make` builds everything into build/; `make test` runs every test.
#
# Each folder's sources are picked up by wildcard, so adding a .c file needs no edit here:
#   core/*.c   -> build/lib/libkelpcore.a     (no threads, sockets or verbs)
#   proto/*.c  -> build/lib/libkelpproto.a    (pure encode/parse)
#   nic/*.c    -> build/lib/libkelpnic.a      (verbs behind an ops table)
#   shm/*.c    -> build/lib/libkelpshm.a      (the client library's objects, for in-tree programs)
#   lcore/*/*.c -> build/lib/libkelplcore.a   (runtime, in sub-layers: worker/ cluster/ rdma/
#                                             control/ kelpd/; lcore/kelpd/main.c is kelpd's main)
#   tools/<name>/*.c, bench/<name>/*.c -> build/bin/<name>
#   test/unit/test_*.c -> build/test/test_*   (CMocka, one program per file)
#   test/fuzz/fuzz_*.c -> build/fuzz/fuzz_*   (libFuzzer, clang)
# Every program of the tree (kelpd, tools, bench, tests) links these static archives: they use
# internal calls. Applications get libkelp, made of shm/*.c plus the core objects those need
# (KELP_CORE_SRCS), release KELP_VERSION (below; also kelp.pc's Version):
#   build/lib/libkelp.so.0.1.0  soname libkelp.so.0; libkelp.so.0 -> libkelp.so.0.1.0, libkelp.so ->
#                               libkelp.so.0. Exports only kelp.h's calls (version script
#                               shm/libkelp.map), needs only libdeflate and libinih.
#   build/lib/libkelp.a         the same objects; build/lib/pkgconfig/kelp.pc
# `make check-abi` (part of `make test`) checks the exports, soname, links and libraries;
# `make check-layers` (part of `make test`) the include graph between folders.
# Include paths follow the layering (mk/check-layers.sh): -I. everywhere; -Ishm (kelp.h, kelp_abi.h,
# kelp_ring.h) for shm/ and the layers above it only, so core/, proto/ and nic/ cannot include them.
#
# `make man` (part of `make`) generates the man pages into $(BUILD)/man/ (mk/gen-man.sh); `make install`
# / `make uninstall` (PREFIX, DESTDIR, ...; README "Operating kelp") install kelpd, the tools,
# libkelp, kelp.h, the installed kelp.pc, the man pages, kelp.conf and conf/kelpd.service.
#
# Variants: `make SAN=1` builds with AddressSanitizer + UBSan into build-asan/ (`make asan` runs the
# unit tests that way).

# `make` alone builds `all` (the version rule below is the first one in the file)
.DEFAULT_GOAL := all

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1 -DKELP_DEBUG # owner-thread checks (core/owner.h)
else
BUILD ?= build
SANFLAGS :=
OPT := -O2
endif

CC ?= gcc
FUZZCC ?= clang
# -march is deliberately not native: binaries also run inside the TCG VM of test/rdma (no AVX-512).
CFLAGS_BASE := -std=gnu11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -pthread
CFLAGS ?=
INCLUDES = -I. -Ishm
ALL_CFLAGS = $(CFLAGS_BASE) $(INCLUDES) $(CFLAGS_VERSION) $(SANFLAGS) $(CFLAGS) -MMD -MP
LDFLAGS ?=
SYSLIBS := -luring -lnuma -lhwloc -libverbs -lmlx5 -lrdmacm -linih -ljansson -ldeflate -lcrypto -lm -lpthread

# libkelp's release (file name, kelp.pc); the soname carries its major number. Not the ABI version
# of the shared segment (KELP_ABI_VERSION in shm/kelp_abi.h), which kelpd checks at connect.
KELP_VERSION := 0.1.0
KELP_SOVERSION := $(firstword $(subst ., ,$(KELP_VERSION)))
# Every tool's --version prints KELP_VERSION from here (with KELP_ABI_VERSION of shm/kelp_abi.h):
# the files that print it get it with -D, and are rebuilt when this Makefile changes.
VERSION_SRCS := lcore/kelpd/main.c tools/kelpctl/kelpctl.c tools/kelp-vol/main.c \
	tools/kelp-rdma/main.c bench/kelp-bench/options.c tools/kelp-mount/main.c
$(patsubst %.c,$(BUILD)/obj/%.o,$(VERSION_SRCS)): CFLAGS_VERSION = -DKELP_VERSION='"$(KELP_VERSION)"'
$(patsubst %.c,$(BUILD)/obj/%.o,$(VERSION_SRCS)): Makefile
# What libkelp's objects need: config.o (kelp_connect reads kelp.conf, checked like kelpd does, so
# the whole parser: -linih, and hostport.o, its host:port checks), fid.o and gzip.o (public calls;
# -ldeflate), fpath.o (paths checked as kelpd checks them). The .so is linked with
# -z defs, so a core object missing here is a link error naming the symbol.
KELP_CORE_SRCS := core/config.c core/cidr.c core/hostport.c core/fid.c core/gzip.c core/fpath.c
KELP_SYSLIBS := -ldeflate -linih -lpthread

LIB := $(BUILD)/lib
BIN := $(BUILD)/bin
OBJ := $(BUILD)/obj

CORE_SRCS  := $(wildcard core/*.c)
PROTO_SRCS := $(wildcard proto/*.c)
NIC_SRCS   := $(wildcard nic/*.c)
SHM_SRCS   := $(wildcard shm/*.c)
LCORE_SRCS := $(filter-out lcore/kelpd/main.c,$(wildcard lcore/*.c lcore/*/*.c))

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))

CORE_LIB  := $(LIB)/libkelpcore.a
PROTO_LIB := $(LIB)/libkelpproto.a
NIC_LIB   := $(LIB)/libkelpnic.a
LCORE_LIB := $(LIB)/libkelplcore.a
SHM_LIB   := $(LIB)/libkelpshm.a
KELP_A    := $(LIB)/libkelp.a
KELP_SO   := $(LIB)/libkelp.so.$(KELP_VERSION)
KELP_SO_LINKS := $(LIB)/libkelp.so.$(KELP_SOVERSION) $(LIB)/libkelp.so
KELP_OBJS := $(call objs,$(SHM_SRCS) $(KELP_CORE_SRCS))
# Link order: dependents first.
ALL_LIBS  := $(LCORE_LIB) $(NIC_LIB) $(PROTO_LIB) $(SHM_LIB) $(CORE_LIB)

# Only folders with C sources are tools (bench/results/ holds recorded figures, not code).
TOOLS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c bench/*/*.c)))))
# kelp-mount (FUSE) is built only where libfuse3 is (mk/deps.sh installs libfuse3-dev): pkg-config
# fuse3 gives its flags. Without it, everything else builds and kelp-mount is left out (also of man
# and install).
FUSE3 := $(shell pkg-config --exists fuse3 2>/dev/null && echo 1)
ifeq ($(FUSE3),1)
$(OBJ)/tools/kelp-mount/%.o: INCLUDES += $(shell pkg-config --cflags fuse3)
$(BIN)/kelp-mount: SYSLIBS += $(shell pkg-config --libs fuse3)
else
TOOLS := $(filter-out kelp-mount,$(TOOLS))
endif
TOOL_BINS := $(addprefix $(BIN)/,$(TOOLS))
KELPD := $(BIN)/kelpd

UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRCS))
# Helper programs that integration scripts drive (test/integ/<name>.c -> build/test/integ/<name>).
INTEG_SRCS := $(wildcard test/integ/*.c)
INTEG_BINS := $(patsubst test/integ/%.c,$(BUILD)/test/integ/%,$(INTEG_SRCS))
FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

# Keep object files of pattern-built programs (make would delete them as intermediates).
.SECONDARY:

.PHONY: all libs tools man install uninstall deb FORCE check-abi check-layers test unit asan fuzz fuzz-build integ test-rdma bench-rdma bench demo deps clean format interop-std \
	check-docs check-format python
all: libs tools $(KELPD) $(LIB)/pkgconfig/kelp.pc $(INTEG_BINS) man

libs: $(CORE_LIB) $(PROTO_LIB) $(NIC_LIB) $(SHM_LIB) $(KELP_A) $(KELP_SO_LINKS) $(LCORE_LIB)
tools: $(TOOL_BINS)

# The layers below shm/ do not see its headers (target-specific: also what -MMD records).
$(OBJ)/core/%.o $(OBJ)/proto/%.o $(OBJ)/nic/%.o: INCLUDES = -I.

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

define static_lib
$(1): $(2)
	@mkdir -p $$(dir $$@)
	rm -f $$@
	$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
endef
$(eval $(call static_lib,$(CORE_LIB),$(call objs,$(CORE_SRCS))))
$(eval $(call static_lib,$(PROTO_LIB),$(call objs,$(PROTO_SRCS))))
$(eval $(call static_lib,$(NIC_LIB),$(call objs,$(NIC_SRCS))))
$(eval $(call static_lib,$(LCORE_LIB),$(call objs,$(LCORE_SRCS))))
$(eval $(call static_lib,$(SHM_LIB),$(call objs,$(SHM_SRCS))))
# libkelp: one library for applications (the .a for standalone static linking), so it carries the
# core objects the client uses, and only those.
$(eval $(call static_lib,$(KELP_A),$(KELP_OBJS)))

$(KELP_SO): $(KELP_OBJS) shm/libkelp.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(SANFLAGS) -Wl,-soname,libkelp.so.$(KELP_SOVERSION) \
		-Wl,--version-script=shm/libkelp.map -Wl,-z,defs \
		-o $@ $(KELP_OBJS) $(LDFLAGS) $(KELP_SYSLIBS)
$(LIB)/libkelp.so.$(KELP_SOVERSION): $(KELP_SO)
	ln -sf $(notdir $<) $@
$(LIB)/libkelp.so: $(LIB)/libkelp.so.$(KELP_SOVERSION)
	ln -sf $(notdir $<) $@

# kelp.pc twice from shm/kelp.pc.in: build/lib/pkgconfig/kelp.pc points into the build tree (with
# an rpath, for in-tree use); $(BUILD)/install/kelp.pc carries the installed paths (make install).
gen_pc = sed -e 's|@PREFIX@|$(1)|' -e 's|@LIBDIR@|$(2)|' -e 's|@INCLUDEDIR@|$(3)|' \
	-e 's|@RPATH@|$(4)|' -e 's|@VERSION@|$(KELP_VERSION)|' -e 's|@LIBS_PRIVATE@|$(KELP_SYSLIBS)|'
$(LIB)/pkgconfig/kelp.pc: shm/kelp.pc.in Makefile
	@mkdir -p $(dir $@)
	$(call gen_pc,$(abspath $(BUILD)),$(abspath $(LIB)),$(abspath shm),-Wl$(,)-rpath$(,)$${libdir} ) \
		$< > $@

# libkelp.so exports exactly the calls kelp.h declares (and kelp.h's copy of the fid block is
# core/fid.h's); its soname, links and libraries are as above.
check-abi: $(KELP_SO_LINKS) $(KELP_A)
	@mk/check-abi.sh $(KELP_SO) $(KELP_A) $(KELP_VERSION) "$(KELP_SYSLIBS)"

# Includes run one way between folders and lcore/'s sub-layers (mk/check-layers.sh, README Layout).
check-layers:
	@mk/check-layers.sh

# One binary per folder under tools/ and bench/.
define tool_bin
$(BIN)/$(1): $(call objs,$(wildcard tools/$(1)/*.c bench/$(1)/*.c)) $(ALL_LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(SANFLAGS) -pthread -o $$@ $$(filter %.o,$$^) $$(ALL_LIBS) $$(LDFLAGS) $$(SYSLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_bin,$(t))))

$(KELPD): $(OBJ)/lcore/kelpd/main.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -pthread -o $@ $< $(ALL_LIBS) $(LDFLAGS) $(SYSLIBS)

$(BUILD)/test/integ/%: $(OBJ)/test/integ/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -pthread -o $@ $< $(ALL_LIBS) $(LDFLAGS) $(SYSLIBS)

$(BUILD)/test/%: $(OBJ)/test/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -pthread -o $@ $< $(ALL_LIBS) $(LDFLAGS) $(SYSLIBS) -lcmocka

# Fuzz targets are built with clang's libFuzzer from the sources themselves (not the gcc objects).
FUZZ_LIB_SRCS := $(CORE_SRCS) $(PROTO_SRCS)
# A target that drives runtime code names the sources it needs beyond core/ and proto/.
$(BUILD)/fuzz/fuzz_http_client: FUZZ_EXTRA := lcore/cluster/http_client.c
$(BUILD)/fuzz/fuzz_http_client: lcore/cluster/http_client.c test/unit/script_server.h
$(BUILD)/fuzz/%: test/fuzz/%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZCC) -std=gnu11 -O1 -g -D_GNU_SOURCE $(INCLUDES) -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(FUZZ_LIB_SRCS) $(FUZZ_EXTRA) -luring -ldeflate -ljansson -linih -lcrypto -lm

# ---- man pages, install ---------------------------------------------------------------------
# Man pages are generated (mk/gen-man.sh) so that they cannot drift: a tool's page is its template
# man/<tool>.<n>.in (NAME, DESCRIPTION, ...) around the built tool's own --help text; kelp.conf(5)
# is conf/kelp.conf; libkelp(3) is kelp.h with its comments. test/integ/test_docs_sync.sh checks
# every config key and every long option appears.
MAN_TOOLS := kelpd.8 kelpctl.8 kelp-bench.1 kelp-vol.1 kelp-rdma.1 $(if $(FUSE3),kelp-mount.8)
MAN_PAGES := $(addprefix $(BUILD)/man/,$(MAN_TOOLS) kelp.conf.5 libkelp.3)
man: $(MAN_PAGES)
$(BUILD)/man/kelpd.8: $(KELPD)
$(BUILD)/man/%.8: man/%.8.in mk/gen-man.sh Makefile $(TOOL_BINS)
	@mkdir -p $(dir $@)
	mk/gen-man.sh tool $< $(BIN)/$* $(KELP_VERSION) > $@.tmp && mv $@.tmp $@
$(BUILD)/man/%.1: man/%.1.in mk/gen-man.sh Makefile $(TOOL_BINS)
	@mkdir -p $(dir $@)
	mk/gen-man.sh tool $< $(BIN)/$* $(KELP_VERSION) > $@.tmp && mv $@.tmp $@
$(BUILD)/man/kelp.conf.5: man/kelp.conf.5.in conf/kelp.conf mk/gen-man.sh Makefile
	@mkdir -p $(dir $@)
	mk/gen-man.sh conf $< conf/kelp.conf $(KELP_VERSION) > $@.tmp && mv $@.tmp $@
$(BUILD)/man/libkelp.3: man/libkelp.3.in shm/kelp.h mk/gen-man.sh Makefile
	@mkdir -p $(dir $@)
	mk/gen-man.sh header $< shm/kelp.h $(KELP_VERSION) > $@.tmp && mv $@.tmp $@

# `make install PREFIX=/usr/local DESTDIR=`: every directory below is overridable. kelpd goes to
# sbin/ (a daemon), the tools to bin/ (kelp-rdma too: operators check an RDMA path with it). The
# config is installed only when none is there (an edited one is never overwritten), and `make
# uninstall` keeps it (as Debian keeps conffiles until a purge): remove $(SYSCONFDIR)/kelp by hand.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# systemd reads units from /usr/local/lib/systemd/system and /usr/lib/systemd/system alike
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install
INSTALL_TOOLS := kelpctl kelp-bench kelp-vol kelp-rdma $(if $(FUSE3),kelp-mount)
,:= ,

$(BUILD)/install/kelp.pc: shm/kelp.pc.in Makefile
	@mkdir -p $(dir $@)
	$(call gen_pc,$(PREFIX),$(LIBDIR),$(INCLUDEDIR),) $< > $@
# conf/kelpd.service names the default paths (/usr/local/sbin/kelpd, /usr/local/etc/kelp);
# installed, it names the ones of this install.
$(BUILD)/install/kelpd.service: conf/kelpd.service Makefile
	@mkdir -p $(dir $@)
	sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/usr/local/etc/kelp/|$(SYSCONFDIR)/kelp/|g' \
		$< > $@
# FORCE: PREFIX and friends may differ from the previous run's
$(BUILD)/install/kelp.pc $(BUILD)/install/kelpd.service: FORCE
FORCE:

install: all $(BUILD)/install/kelp.pc $(BUILD)/install/kelpd.service
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(SYSCONFDIR)/kelp \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(addprefix $(DESTDIR)$(MANDIR)/man,1 3 5 8)
	$(INSTALL) -m 755 $(KELPD) $(DESTDIR)$(SBINDIR)/kelpd
	$(INSTALL) -m 755 $(addprefix $(BIN)/,$(INSTALL_TOOLS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 755 $(KELP_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libkelp.so.$(KELP_VERSION) $(DESTDIR)$(LIBDIR)/libkelp.so.$(KELP_SOVERSION)
	ln -sf libkelp.so.$(KELP_SOVERSION) $(DESTDIR)$(LIBDIR)/libkelp.so
	$(INSTALL) -m 644 $(KELP_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 644 shm/kelp.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(BUILD)/install/kelp.pc $(DESTDIR)$(PKGCONFIGDIR)/
	for p in $(MAN_PAGES); do \
		$(INSTALL) -m 644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/ || exit 1; done
	$(INSTALL) -m 644 $(BUILD)/install/kelpd.service $(DESTDIR)$(SYSTEMDUNITDIR)/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/kelp/kelp.conf ]; then \
		echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/kelp/kelp.conf (conf/kelp.conf has the defaults)"; \
	else $(INSTALL) -m 644 conf/kelp.conf $(DESTDIR)$(SYSCONFDIR)/kelp/kelp.conf; fi
	@[ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ] || ldconfig

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kelpd $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_TOOLS)) \
		$(addprefix $(DESTDIR)$(LIBDIR)/,libkelp.so.$(KELP_VERSION) \
			libkelp.so.$(KELP_SOVERSION) libkelp.so libkelp.a) \
		$(DESTDIR)$(INCLUDEDIR)/kelp.h $(DESTDIR)$(PKGCONFIGDIR)/kelp.pc \
		$(DESTDIR)$(SYSTEMDUNITDIR)/kelpd.service \
		$(foreach p,$(notdir $(MAN_PAGES)),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(p))
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/kelp/kelp.conf is kept (remove it by hand if unwanted)"

# `make deb`: a Debian package of `make install PREFIX=/usr` (multiarch LIBDIR, the unit in
# /lib/systemd/system, /etc/kelp/kelp.conf as a conffile), built with dpkg-deb from a staging tree;
# Depends: the packages that own the shared libraries kelpd and the tools load (mk/deb-control.sh).
# No maintainer scripts: the kelp user is created by the operator (README "Operating kelp").
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_MULTIARCH = $(shell gcc -print-multiarch)
DEB := $(BUILD)/kelp_$(KELP_VERSION)_$(DEB_ARCH).deb
deb: all
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install PREFIX=/usr LIBDIR=/usr/lib/$(DEB_MULTIARCH) \
		SYSTEMDUNITDIR=/lib/systemd/system DESTDIR=$(abspath $(BUILD)/deb)
	mkdir -p $(BUILD)/deb/DEBIAN
	mk/deb-control.sh $(KELP_VERSION) $(DEB_ARCH) $(BUILD)/deb $(KELPD) \
		$(addprefix $(BIN)/,$(INSTALL_TOOLS)) > $(BUILD)/deb/DEBIAN/control
	echo /etc/kelp/kelp.conf > $(BUILD)/deb/DEBIAN/conffiles
	echo "activate-noawait ldconfig" > $(BUILD)/deb/DEBIAN/triggers
	dpkg-deb --root-owner-group -Zxz --build $(BUILD)/deb $(DEB)

# ---- tests ------------------------------------------------------------------------------------
FUZZ_SECONDS ?= 10

deps:
	@mk/deps.sh

unit: $(UNIT_BINS)
	@mk/run-unit.sh $(UNIT_BINS)

asan:
	$(MAKE) SAN=1 unit

fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@mk/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

integ: all
	@mk/run-integ.sh

test-rdma: all
	@test/rdma/run.sh test

bench-rdma: all
	@test/rdma/run.sh bench

# `make test`: dependencies first, then the include graph and the build (these stop it), then
# libkelp's exports, the docs' file names, unit (plain and ASan+UBSan), fuzz, integration, RDMA VM.
# Every one of these runs even after one fails; each suite records its counts in build/test-results/
# and mk/test-summary.sh closes with "test: N passed, N failed, N skipped". It fails if anything
# failed, or if a test skipped that KELP_ALLOW_SKIP does not accept (mk/test-lib.sh).
TEST_RESULTS := $(CURDIR)/build/test-results
test: deps
	$(MAKE) check-layers
	$(MAKE) check-format
	$(MAKE) all
	@rm -rf $(TEST_RESULTS); mkdir -p $(TEST_RESULTS); \
	export KELP_TEST_RESULTS=$(TEST_RESULTS); failed=; \
	$(MAKE) check-abi || failed="$$failed check-abi"; \
	mk/check-docs.sh || failed="$$failed check-docs"; \
	KELP_UNIT_SUITE=unit $(MAKE) unit || failed="$$failed unit"; \
	KELP_UNIT_SUITE=asan $(MAKE) asan || failed="$$failed asan"; \
	$(MAKE) fuzz || failed="$$failed fuzz"; \
	$(MAKE) integ || failed="$$failed integration"; \
	if [ -x test/rdma/run.sh ]; then test/rdma/run.sh test-if-possible || failed="$$failed rdma"; fi; \
	mk/test-summary.sh $$failed

# Every path-like file name in the docs and in headers' comments names a tracked file.
check-docs:
	@mk/check-docs.sh

# Every tracked .c/.h as `make format` would leave it (the pinned clang-format of mk/deps.sh).
check-format:
	@CLANG_FORMAT=$(CLANG_FORMAT) mk/check-format.sh

# 4-byte .idx offsets against a standard (not large-disk) weed built from source: kelp-vol volumes
# both ways, kelpd tailing live 16-byte rows through vacuums, and the HTTP fallback. Slow the first
# time (mk/weed-std.sh builds weed), so not part of `make test`.
interop-std: all
	w=$$(mk/weed-std.sh) && \
	WEED=$$w KELP_OFFSET_BYTES=4 bash test/integ/test_kelp_vol_weed_interop.sh && \
	WEED=$$w bash test/integ/test_live_volumes_weed.sh && \
	WEED=$$w bash test/integ/test_kelpd_http.sh

demo: deps all
	@mk/demo.sh

# the pinned clang-format of mk/deps.sh (make check-format uses the same)
CLANG_FORMAT ?= $(shell mk/clang-format-path.sh)
format:
	@command -v $(CLANG_FORMAT) >/dev/null || \
		{ echo "format: $(CLANG_FORMAT) not found: make deps (pip's clang-format), or set CLANG_FORMAT=" >&2; exit 1; }
	$(CLANG_FORMAT) -i $$(git ls-files '*.c' '*.h')

# The Python package (python/, C extension linking build/lib/libkelp.a statically) built in place:
# PYTHONPATH=python python3 -c 'import kelp'. `pip install ./python` installs it instead.
python: $(KELP_A)
	cd python && KELP_BUILD=$(abspath $(BUILD)) python3 setup.py -q build_ext --inplace

clean:
	rm -rf build build-asan python/build python/kelp/*.so

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
