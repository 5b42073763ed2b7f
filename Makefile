# pv: POVID preference fine-tuning as small Unix tools.
#
#   make            build every tool into bin/
#   make check      dependencies, build, unit + golden tests, bats suites, man lint
#   make demo       run the pipeline on the built-in sample data
#   make bench      benchmark figures against baselines run in the same invocation
#   make asan       build and test under AddressSanitizer + UBSan
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS
#   make install PREFIX=/usr/local DESTDIR=
#
# Sources are discovered: tools/pv-*.c become bin/pv-*, lib/*.c (and lib/*.cu when
# nvcc is found and CUDA is not 0) make up lib pv, tests/unit/test_*.c are unit tests.
# BUILD and BIN may point elsewhere so that several builds (asan, parallel work)
# never share objects.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
BIN     ?= bin
CC      ?= cc
OPT     ?= -O2
WERROR  ?= 0
SAN     ?=
CUDA    ?= auto
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
FUZZ_SECONDS ?= 20

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
        -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif

CPPFLAGS_PV := -Ilib -I/usr/include/x86_64-linux-gnu -D_GNU_SOURCE
CFLAGS_PV   := -std=c17 $(OPT) -g -fopenmp -pthread $(WARN) $(SAN)
LDLIBS_PV   := -lcjson -lturbojpeg -lpng -lz -lopenblas -lm
# --as-needed: a tool records only the libraries it uses (the CUDA ones cost
# ~200 MB of address space and start-up time in tools that never touch a GPU).
LDFLAGS_PV  := -fopenmp -pthread -Wl,--as-needed $(SAN)

# CUDA: on when nvcc exists unless CUDA=0.
ifeq ($(CUDA),0)
HAVE_CUDA :=
else ifneq ($(NVCC),)
HAVE_CUDA := 1
endif
CU_SRCS := $(wildcard lib/*.cu lib/*/*.cu)
ifneq ($(HAVE_CUDA),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CPPFLAGS_PV += -DPV_HAVE_CUDA=1 -I$(CUDA_HOME)/include
LDLIBS_PV   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
NVCCFLAGS   ?= -O3 -std=c++17 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
               -Xcompiler -fPIC -Xcompiler -Wall,-Wextra -Ilib
ifeq ($(WERROR),1)
NVCCFLAGS   += -Werror all-warnings -Xcompiler -Werror
endif
CU_OBJS     := $(patsubst %.cu,$(BUILD)/obj/%.o,$(CU_SRCS))
else
CU_OBJS     :=
endif

LIB_SRCS  := $(wildcard lib/*.c lib/*/*.c)
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(CU_OBJS)
LIB_A     := $(BUILD)/libpv.a
TOOL_SRCS := $(wildcard tools/pv-*.c)
TOOLS     := $(patsubst tools/%.c,$(BIN)/%,$(TOOL_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
MANS      := $(wildcard man/*.[15])

.PHONY: all deps check test unit bats lint demo sample-model bench asan fuzz install uninstall clean \
        tools units gpu-bundle
all: tools

tools: $(TOOLS)
units: $(UNITS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_PV) $(CFLAGS_PV) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -DPV_HAVE_CUDA=1 -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(BUILD)/obj/tools/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_PV) $(LDFLAGS) $< $(LIB_A) $(LDLIBS_PV) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_PV) $(LDFLAGS) $< $(LIB_A) $(LDLIBS_PV) $(LDLIBS) -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Every test (unit, golden, bats, man lint) through one runner that prints
# "N passed, N failed" last.
check: deps
	@$(MAKE) --no-print-directory tools units
	@BUILD=$(BUILD) BIN=$(BIN) PV_SAN="$(SAN)" tests/run.sh

test: check

lint:
	@tests/lint-man.sh $(MANS)

demo: deps tools
	@$(MAKE) --no-print-directory -f pipelines/demo.mk BIN=$(abspath $(BIN))

sample-model: deps tools
	@$(MAKE) --no-print-directory -f pipelines/sample-model.mk BIN=$(abspath $(BIN))

# The binaries, libraries and fixture copies a lent GPU machine needs (.device/);
# then one device call runs tests/gpu/run.sh (see tests/gpu/NOTES.md).
gpu-bundle: tools
	@tests/gpu/bundle.sh

bench: tools
	@scripts/deps.sh bench
	@BIN=$(BIN) bench/run.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/bin OPT=-O1 CUDA=0 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" check

fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

install: tools
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	for m in $(wildcard man/*.1); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done
	for m in $(wildcard man/*.5); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man5/; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(TOOLS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(wildcard man/*.1)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man5/,$(notdir $(wildcard man/*.5)))

clean:
	rm -rf build build-asan bin
