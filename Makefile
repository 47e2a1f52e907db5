# kelp — top-level build. `make` builds everything into build/; `make test` runs every test.
#
# Each folder's sources are picked up by wildcard, so adding a .c file needs no edit here:
#   core/*.c   -> build/lib/libkelpcore.a     (no threads, sockets or verbs)
#   proto/*.c  -> build/lib/libkelpproto.a    (pure encode/parse)
#   nic/*.c    -> build/lib/libkelpnic.a      (verbs behind an ops table)
#   shm/*.c    -> build/lib/libkelp.{a,so}    (client library; also contains libkelpcore)
#   lcore/*/*.c -> build/lib/libkelplcore.a   (runtime, in sub-layers: worker/ cluster/ rdma/
#                                             control/ kelpd/; lcore/kelpd/main.c is kelpd's main)
#   tools/<name>/*.c, bench/<name>/*.c -> build/bin/<name>
#   test/unit/test_*.c -> build/test/test_*   (CMocka, one program per file)
#   test/fuzz/fuzz_*.c -> build/fuzz/fuzz_*   (libFuzzer, clang)
#
# Variants: `make SAN=1` builds with AddressSanitizer + UBSan into build-asan/ (`make asan` runs the
# unit tests that way).

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
BUILD ?= build
SANFLAGS :=
OPT := -O2
endif

CC ?= gcc
FUZZCC ?= clang
# -march is deliberately not native: binaries also run inside the TCG VM of test/rdma (no AVX-512).
CFLAGS_BASE := -std=gnu11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -I. -Ishm -pthread
CFLAGS ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(SANFLAGS) $(CFLAGS) -MMD -MP
LDFLAGS ?=
SYSLIBS := -luring -lnuma -lhwloc -libverbs -lmlx5 -lrdmacm -linih -ljansson -ldeflate -lcrypto -lm -lpthread

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
KELP_A    := $(LIB)/libkelp.a
KELP_SO   := $(LIB)/libkelp.so
# Link order: dependents first.
ALL_LIBS  := $(LCORE_LIB) $(NIC_LIB) $(PROTO_LIB) $(KELP_A) $(CORE_LIB)

# Only folders with C sources are tools (bench/results/ holds recorded figures, not code).
TOOLS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c bench/*/*.c)))))
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

.PHONY: all libs tools test unit asan fuzz fuzz-build integ test-rdma bench-rdma bench demo deps clean format interop-std
all: libs tools $(KELPD) $(LIB)/pkgconfig/kelp.pc $(INTEG_BINS)

libs: $(CORE_LIB) $(PROTO_LIB) $(NIC_LIB) $(KELP_A) $(KELP_SO) $(LCORE_LIB)
tools: $(TOOL_BINS)

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
# libkelp carries the core objects (fid parsing, gunzip) so users link one library (the .a too, for
# standalone static linking); the .so also needs what other core objects reference (jansson for
# .vif, inih for the config).
$(eval $(call static_lib,$(KELP_A),$(call objs,$(SHM_SRCS) $(CORE_SRCS))))

$(KELP_SO): $(call objs,$(SHM_SRCS)) $(call objs,$(CORE_SRCS))
	@mkdir -p $(dir $@)
	$(CC) -shared $(SANFLAGS) -Wl,-soname,libkelp.so.0 -o $@ $^ $(LDFLAGS) -ldeflate -ljansson -linih -lpthread
	ln -sf libkelp.so $(LIB)/libkelp.so.0

$(LIB)/pkgconfig/kelp.pc: shm/kelp.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@INCLUDEDIR@|$(abspath shm)|' $< > $@

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
$(BUILD)/fuzz/%: test/fuzz/%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZCC) -std=gnu11 -O1 -g -D_GNU_SOURCE -I. -Ishm -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(FUZZ_LIB_SRCS) -ldeflate -ljansson -linih -lcrypto -lm

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

# `make test`: dependencies first, then unit (plain and ASan+UBSan), fuzz, integration, RDMA VM.
test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) asan
	$(MAKE) fuzz
	$(MAKE) integ
	@if [ -x test/rdma/run.sh ]; then test/rdma/run.sh test-if-possible; fi

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

CLANG_FORMAT ?= clang-format
format:
	@command -v $(CLANG_FORMAT) >/dev/null || \
		{ echo "format: $(CLANG_FORMAT) not found: pip install clang-format (or set CLANG_FORMAT=)" >&2; exit 1; }
	$(CLANG_FORMAT) -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
