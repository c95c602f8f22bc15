# rekey: plain GNU make with pkg-config.
#   make                 build/rekey
#   make SANITIZER=1     build-asan/rekey (ASan + UBSan, no recovery)
#   make test            both builds, every test in each, bounded fuzzing
#   make demo            the daemon against local fakes

PKGS := libevent libevent_openssl libcurl libcjson openssl sqlite3 zlib libpq
# Debian packages that provide PKGS and the tools the tests and demo use.
DEB_BUILD := build-essential pkg-config libevent-dev libcurl4-openssl-dev \
	libcjson-dev libssl-dev libsqlite3-dev zlib1g-dev libpq-dev
DEB_DEMO := curl openssl python3 nodejs sqlite3 procps
DEB_TEST := $(DEB_DEMO) clang libclang-rt-14-dev nginx wrk prometheus systemd python3-yaml \
	chromium chromium-driver python3-selenium postgresql

ifeq ($(SANITIZER),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= cc
WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -Werror
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) $(SANFLAGS) -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
LDLIBS = $(PKG_LIBS) -lpthread

# One folder per layer (README: Layout).
SRCS := $(wildcard src/*/*.c)
HDRS := $(wildcard src/*/*.h)
# The status page's files, compiled in as C arrays (intake/status_assets.h).
ASSETS := src/intake/status_page.html src/intake/status_page.css src/intake/status_page.js \
	src/intake/status_page.svg
ASSET_ARGS := status_page_html=src/intake/status_page.html \
	status_page_css=src/intake/status_page.css status_page_js=src/intake/status_page.js \
	status_page_svg=src/intake/status_page.svg
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/status_assets.o
# The commands main.c has no room for (handler/cli_*.c), linked into rekey only.
HANDLER_SRCS := $(filter-out handler/main.c,$(wildcard handler/*.c))
HANDLER_OBJS := $(HANDLER_SRCS:handler/%.c=$(BUILD)/obj/handler/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
# Seconds each fuzz target runs in `make test`.
FUZZ_SECONDS ?= 15
# `make fuzz-long`: seconds per target, targets run at once, and MERGE=1 to copy
# the inputs that raise coverage into the committed corpus.
FUZZ_LONG_SECONDS ?= 600
FUZZ_JOBS ?= 1

.PHONY: all deps deps-demo unit test test-one fuzz fuzz-long bench demo clean
# Keep the fuzz build's objects between runs.
.SECONDARY:
all: $(BUILD)/rekey

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/gen/status_assets.c: $(ASSETS) handler/embed.sh
	@mkdir -p $(@D)
	handler/embed.sh $@ $(ASSET_ARGS)
$(BUILD)/obj/gen/status_assets.o: $(BUILD)/gen/status_assets.c src/intake/status_assets.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The version rekey reports (rekey version, rekey_build_info): git's description of the tree.
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/obj/main.o: handler/main.c $(HDRS) $(wildcard handler/*.h) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -I. -DREKEY_VERSION='"$(VERSION)"' -c -o $@ $<

$(BUILD)/obj/handler/%.o: handler/%.c $(HDRS) $(wildcard handler/*.h) | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I. -c -o $@ $<

$(BUILD)/rekey: $(OBJS) $(HANDLER_OBJS) $(BUILD)/obj/main.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(OBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(OBJS) $(LDLIBS)

# The benchmarks' measure of the store alone (tests/bench/store_floor.c).
$(BUILD)/bench/store_floor: tests/bench/store_floor.c $(OBJS) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< $(OBJS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/bench build-fuzz/obj:
	mkdir -p $@

# Fuzz targets: clang + libFuzzer + ASan, the modules compiled alike.
FUZZ_CFLAGS = -std=gnu11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	-D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
build-fuzz/obj/%.o: src/%.c $(HDRS) | build-fuzz/obj
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/gen/status_assets.c: $(ASSETS) handler/embed.sh
	@mkdir -p $(@D)
	handler/embed.sh $@ $(ASSET_ARGS)
build-fuzz/obj/gen/status_assets.o: build-fuzz/gen/status_assets.c src/intake/status_assets.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/%: tests/fuzz/%.c $(SRCS:src/%.c=build-fuzz/obj/%.o) build-fuzz/obj/gen/status_assets.o
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# Test programs that integration tests run (not tests themselves).
DRIVER_BINS := $(BUILD)/tests/outbound_driver $(BUILD)/tests/leader_driver \
	$(BUILD)/bench/store_floor

unit: $(UNIT_BINS) $(DRIVER_BINS)

$(BUILD)/tests/outbound_driver: tests/integration/outbound_driver.c $(OBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -o $@ $< $(OBJS) $(LDLIBS)

$(BUILD)/tests/leader_driver: tests/integration/leader_driver.c $(OBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -o $@ $< $(OBJS) $(LDLIBS)

# Installs the Debian packages that are missing (as root), or says how.
deps:
	@tests/lib/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

# Builds use every core: about a minute and a half saved on 2.
JOBS := $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(MAKE) -j$(JOBS) all unit
	$(MAKE) -j$(JOBS) SANITIZER=1 all unit
	$(MAKE) -j$(JOBS) $(FUZZ_BINS)
	tests/run.sh --fuzz-seconds $(FUZZ_SECONDS) build build-asan

# Runs the tests of one build only (BUILD=build or build-asan), no fuzzing.
test-one: all unit
	tests/run.sh --fuzz-seconds 0 $(BUILD)

fuzz: $(FUZZ_BINS)

# Every target for FUZZ_LONG_SECONDS on a corpus kept in build-fuzz/corpus.
fuzz-long: $(FUZZ_BINS)
	tests/lib/fuzz-long.sh $(if $(filter 1,$(MERGE)),--merge) --jobs $(FUZZ_JOBS) \
	    $(FUZZ_LONG_SECONDS) $(FUZZ_BINS)

bench: deps
	$(MAKE) all $(BUILD)/bench/store_floor
	tests/bench/intake.sh

deps-demo:
	@tests/lib/install-deps.sh $(DEB_BUILD) $(DEB_DEMO)

demo: deps-demo
	$(MAKE) all
	handler/demo.sh

clean:
	rm -rf build build-asan build-fuzz
