# profilehub build.
#
#   make            build the hub, its plugins and the CLI (installs missing
#                   Debian packages first, see scripts/deps.sh)
#   make run        build and run the hub on conf/hub.yaml
#   make test       everything CI runs (.ci/run): the normal build and the
#                   sanitizer build, the suite (unit + integration) once
#                   under AddressSanitizer + UBSan with the few jobs a
#                   sanitizer build cannot run on the normal build, then
#                   every libFuzzer target for 5 s
#   make suite      the suite once, on the normal build (the quick loop)
#   make check      the suite under AddressSanitizer + UBSan
#   make fuzz       every libFuzzer target in tests/fuzz/ for FUZZ_SECONDS each
#   make plugin NAME=foo   scaffold plugins/foo from plugins/example
#   make install [PREFIX=/usr/local] [DESTDIR=]   the hub, its plugins, and
#                   the plugin header with its pkg-config file (profilehub-plugin)
#   make uninstall [PREFIX=] [DESTDIR=]   takes out what install put there
#   make format     clang-format the C lines changed since HEAD (.clang-format)
#
# Outputs go to build/ (build/asan/ for `make check`).  The top-level targets
# first run scripts/deps.sh, then re-enter make with HUB_DEPS_DONE=1 so that
# pkg-config is only consulted once the packages exist.

# A Node.js 20 that scripts/deps.sh fetched (Debian 12's is 18) comes
# first, for the npm test clients; absent, the system's node is used.
export PATH := $(CURDIR)/.deps/node/bin:$(PATH)

PUBLIC_TARGETS := all run test suite check unit integration bench fuzz install
.PHONY: $(PUBLIC_TARGETS) deps plugin format clean fuzz-run test-build uninstall

ifndef HUB_DEPS_DONE

$(PUBLIC_TARGETS):
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory -j$$(nproc) HUB_DEPS_DONE=1 $@

deps:
	@sh scripts/deps.sh

else # ---- the real build, packages present ----------------------------

B ?= build
SAN ?=
CC ?= cc
PKG_LIBS := yaml-0.1 jansson sqlite3 libmicrohttpd libcurl libpq openssl zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_LIBS))
PKG_LDLIBS := $(shell pkg-config --libs $(PKG_LIBS))

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Werror
OPT := -O2 -g
ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
# SAN=thread: ThreadSanitizer (not in CI, too slow; docs/testing.md says how to run it)
ifeq ($(SAN),thread)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
endif
ifeq ($(FUZZ),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined
endif
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(OPT) $(EXTRA_LDFLAGS)
LDLIBS_ALL := $(PKG_LDLIBS) -ldl -lpthread -lm

HUB_SRC := $(filter-out hub/main.c,$(wildcard hub/*.c))
HUB_OBJ := $(HUB_SRC:%.c=$(B)/obj/%.o)
LIBHUB := $(B)/libhub.a

# plugins/common/ holds code shared by several plugins, not a plugin.
PLUGIN_NAMES := $(filter-out common,$(notdir $(patsubst %/,%,$(wildcard plugins/*/))))
PLUGIN_SO := $(PLUGIN_NAMES:%=$(B)/plugins/%.so)
# A plugin may add its libraries in plugins/<name>/plugin.mk: <name>_LIBS := -lcurl,
# and sources from elsewhere: <name>_SRC_EXTRA := plugins/common/rowmap.c (.h files
# listed there are dependencies only)
-include $(wildcard plugins/*/plugin.mk)

UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/obj/%.o)
TEST_PLUGIN_SRC := $(wildcard tests/plugins/*.c)
TEST_PLUGIN_SO := $(TEST_PLUGIN_SRC:tests/plugins/%.c=$(B)/tests/plugins/%.so)
TEST_TOOL_SRC := $(wildcard tests/tools/*.c)
TEST_TOOLS := $(TEST_TOOL_SRC:tests/tools/%.c=$(B)/tests/tools/%)

all: $(B)/profilehub $(PLUGIN_SO)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# The Profiles View (hub/web/*) is compiled into the binary: scripts/embed.c
# turns the files into a C table in the build directory.
WEB_FILES := $(sort $(wildcard hub/web/*))
WEB_OBJ := $(B)/obj/web_assets.o

$(B)/tools/embed: scripts/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -o $@ $<

$(B)/gen/web_assets.c: $(WEB_FILES) $(B)/tools/embed
	@mkdir -p $(dir $@)
	$(B)/tools/embed $@ $(WEB_FILES)

$(WEB_OBJ): $(B)/gen/web_assets.c hub/web_assets.h
	$(CC) $(CFLAGS_ALL) -MF $@.d -Ihub -c -o $@ $<

$(LIBHUB): $(HUB_OBJ) $(WEB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/profilehub: $(B)/obj/hub/main.o $(LIBHUB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# Plugins: one shared object per plugins/<name>/, only hub_plugin_entry visible.
# Its headers and plugins/common's are prerequisites: the -MF file of one
# compiler run over several sources keeps the last source's alone.
.SECONDEXPANSION:
$(B)/plugins/%.so: $$(wildcard plugins/%/*.c plugins/%/*.h plugins/common/*.h) $$($$*_SRC_EXTRA) \
		   hub/include/hub_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $(B)/plugins/$*.d -fPIC -fvisibility=hidden -Ihub/include -shared \
		$(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $($*_LIBS)
	@chmod go-w $@ $(dir $@) # the hub refuses a plugin anyone may write (plugin.c)

$(B)/tests/plugins/%.so: tests/plugins/%.c hub/include/hub_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $(B)/tests/plugins/$*.d -fPIC -fvisibility=hidden -Ihub/include -shared \
		$(LDFLAGS_ALL) -o $@ $<
	@chmod go-w $@ $(dir $@)

# The postgres plugin built with a 1 MB statement cap, for the unit test of
# a batch cut into several statements (tests/unit/test_export_postgres.c);
# in a directory of its own, as a plugin's file is named after it.
PGX_TEST_CHUNK_MAX_BYTES := 1048576
PGX_SMALL_SO := $(B)/tests/plugins/small_chunk/postgres.so
$(PGX_SMALL_SO): $(wildcard plugins/postgres/*.c) plugins/postgres/pgx.h hub/include/hub_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $@.d -fPIC -fvisibility=hidden -Ihub/include -shared \
		-DPGX_CHUNK_MAX_BYTES=$(PGX_TEST_CHUNK_MAX_BYTES)u \
		$(LDFLAGS_ALL) -o $@ $(filter %.c,$^) $(postgres_LIBS)
	@chmod go-w $@ $(dir $@)

# unit tests may compile plugin-side code in (plugins/common), which includes <hub_plugin.h>
$(UNIT_OBJ): CFLAGS_ALL += -Ihub/include
$(B)/obj/tests/unit/test_export_postgres.o: CFLAGS_ALL += \
	-DPGX_TEST_CHUNK_MAX_BYTES=$(PGX_TEST_CHUNK_MAX_BYTES)u

# -lodbc: suite sf_odbc compiles the Snowflake plugin's ODBC transport in
$(B)/tests/unit_tests: $(UNIT_OBJ) $(LIBHUB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(UNIT_OBJ) $(LIBHUB) $(LDLIBS_ALL) -lodbc -lcunit

$(B)/tests/tools/%: tests/tools/%.c $(LIBHUB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ihub $(LDFLAGS_ALL) -o $@ $< $(LIBHUB) $(LDLIBS_ALL)

TEST_BUILD := all $(B)/tests/unit_tests $(TEST_PLUGIN_SO) $(PGX_SMALL_SO) $(TEST_TOOLS)

run: all
	$(B)/profilehub -c conf/hub.yaml run

# install: PREFIX/lib/profilehub/ holds the binary with its plugins/ beside
# it (the default plugin_dir is next to the binary, symbolic links
# resolved), PREFIX/bin/profilehub links there.  A plugin built elsewhere
# compiles against PREFIX/include/profilehub/hub_plugin.h (`pkg-config
# --cflags profilehub-plugin`) and the templates in
# PREFIX/share/profilehub/examples/ (not installed as plugins: a name of
# the operator's own must not clash with them).  DESTDIR stages a package.
# Every file gets its mode from install -m, never from the umask: a .pc
# written in place by a umask of 0 was world-writable (its Cflags are
# what a plugin, code loaded into the hub, is compiled with).  PREFIX and
# the lists install and uninstall share are below, with uninstall.
INSTALL_SO = $(INSTALL_NAMES:%=$(B)/plugins/%.so)
HUB_ABI := $(shell sed -n 's/^\#define HUB_ABI_MAJOR //p; s/^\#define HUB_ABI_MINOR //p' \
	hub/include/hub_plugin.h | paste -sd.)

install: all
	@$(INSTALL_PLACES_CHECK)
	install -d $(INSTALL_LIB)/plugins $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/include/profilehub $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(INSTALL_SHARE)/examples
	install -m 0755 $(B)/profilehub $(INSTALL_LIB)/profilehub
	install -m 0755 $(INSTALL_SO) $(INSTALL_LIB)/plugins/
	ln -sf ../lib/profilehub/profilehub $(DESTDIR)$(PREFIX)/bin/profilehub
	install -m 0644 hub/include/hub_plugin.h $(DESTDIR)$(PREFIX)/include/profilehub/
	install -m 0644 $(INSTALL_EXAMPLES) $(INSTALL_SHARE)/examples/
	sed 's|@PREFIX@|$(PREFIX)|; s|@ABI@|$(HUB_ABI)|' scripts/profilehub-plugin.pc.in \
		>$(B)/profilehub-plugin.pc
	install -m 0644 $(B)/profilehub-plugin.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

unit: $(TEST_BUILD)
	HUB_BUILD=$(B) sh tests/run.sh unit

integration: $(TEST_BUILD)
	HUB_BUILD=$(B) sh tests/run.sh integration

suite: $(TEST_BUILD)
	HUB_BUILD=$(B) sh tests/run.sh

# What CI runs (docs/testing.md): both builds (warnings are errors in
# each), every test once under the sanitizers and, on the normal build,
# the jobs the sanitizers cannot run or run only in part (RELEASE_ONLY and
# RELEASE_TOO in tests/run.sh: valgrind, memory budgets); then the fuzzers
# (two at a time on CI's two cores; 5 s each from the seed corpora, a
# guard against a parser's regressions: 2 1/2 minutes for 25 targets at
# 10 s, a sixth of CI; `make fuzz` runs them longer, FUZZ_SECONDS=600 for
# a real search).  The suite on the normal build alone is `make suite`:
# the quick loop.
FUZZ_CI_SECONDS ?= 5

test: $(TEST_BUILD)
	@$(MAKE) --no-print-directory B=build/asan SAN=1 test-build
	HUB_BUILD=build/asan HUB_RELEASE_BUILD=$(B) sh tests/run.sh ci
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

test-build: $(TEST_BUILD)

check:
	@$(MAKE) --no-print-directory B=build/asan SAN=1 suite

# libFuzzer: libhub rebuilt with clang and coverage, one binary per target.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_SECONDS ?= 30

# a target's own libraries: FUZZ_LIBS_<target>
FUZZ_LIBS_fuzz_odbc := -lodbc

$(B)/fuzz/%: tests/fuzz/%.c $(LIBHUB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $@.d -Ihub -Ihub/include -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(LIBHUB) $(LDLIBS_ALL) $(FUZZ_LIBS_$*)

fuzz:
	@$(MAKE) --no-print-directory B=build/fuzz CC=clang FUZZ=1 fuzz-run

fuzz-run: $(FUZZ_BIN)
	HUB_BUILD=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

bench: all
	HUB_BUILD=$(B) sh bench/run.sh

# ---- bench: the helpers the benchmarks run (bench/README.md) ----------
# The record generator is the tests' own (tests/tools/gen_records); the
# PostgreSQL baseline of bench/unify reads links made by unify_edges.
BENCH_TOOLS := $(filter %/gen_records,$(TEST_TOOLS)) $(B)/bench/unify_edges

bench: $(BENCH_TOOLS)

$(B)/bench/unify_edges: bench/unify/unify_edges.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $@.d $(LDFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

# bench/lookup: the HTTP load generator for profile lookups (bench/lookup/run.sh),
# which also takes a free port from the tests' freeport
bench: $(B)/bench/lookup_load $(filter %/freeport,$(TEST_TOOLS))

$(B)/bench/lookup_load: bench/lookup/lookup_load.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $@.d $(LDFLAGS_ALL) -o $@ $< -lpthread

# bench/ingest: the parse ceiling (a bare jansson parse of the benchmark's
# bodies); the load itself is wrk with bench/ingest/ingest.lua
bench: $(B)/bench/parse_ceiling $(filter %/freeport,$(TEST_TOOLS))

$(B)/bench/parse_ceiling: bench/ingest/parse_ceiling.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MF $@.d $(LDFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)
# ---- end of bench -------------------------------------------------------

-include $(shell find $(B) -name '*.d' 2>/dev/null)

endif # HUB_DEPS_DONE

# ---- targets that need no packages -----------------------------------

# KIND: pull (the default), push or export
plugin:
	@sh scripts/new_plugin.sh "$(NAME)" "$(KIND)"

# Only the lines you changed: .clang-format approximates the tree's style,
# and reformatting whole files would rewrite lines nobody touched.
format:
	@test -f .clang-format || { echo "format: .clang-format is missing" >&2; exit 1; }
	git diff -U0 --no-color HEAD -- '*.c' '*.h' | clang-format-diff-14 -p1 -i

clean:
	rm -rf build

# install's places (PREFIX, DESTDIR as given to install) and the files it
# puts there.  uninstall takes out those files alone, then the directories
# of profilehub's own that are left empty: a plugin of the operator's own
# in lib/profilehub/plugins/ stays, with its directory, and is named.  It
# needs no build and no package.
PREFIX ?= /usr/local
INSTALL_LIB = $(DESTDIR)$(PREFIX)/lib/profilehub
INSTALL_SHARE = $(DESTDIR)$(PREFIX)/share/profilehub
INSTALL_EXAMPLES := plugins/example/example.c plugins/example_push/example_push.c \
	plugins/example_export/example_export.c plugins/example/README.md
INSTALL_NAMES := $(filter-out common example%,$(notdir $(patsubst %/,%,$(wildcard plugins/*/))))

# A PREFIX or DESTDIR with a blank is split there by make: install made
# "/opt/my" and "./apps/..." of "/opt/my apps", and uninstall would remove
# such paths.  Refused, naming it.
INSTALL_PLACES_CHECK = $(if $(filter 1,$(words x$(DESTDIR)$(PREFIX)x)),:,\
	echo "$@: PREFIX and DESTDIR must hold no blank: '$(PREFIX)', '$(DESTDIR)'" >&2; exit 2)
INSTALL_BIN = $(DESTDIR)$(PREFIX)/bin/profilehub

uninstall:
	@$(INSTALL_PLACES_CHECK)
	rm -f $(INSTALL_LIB)/profilehub $(INSTALL_NAMES:%=$(INSTALL_LIB)/plugins/%.so) \
		$(DESTDIR)$(PREFIX)/include/profilehub/hub_plugin.h \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/profilehub-plugin.pc \
		$(addprefix $(INSTALL_SHARE)/examples/,$(notdir $(INSTALL_EXAMPLES)))
	@if [ "$$(readlink $(INSTALL_BIN))" = ../lib/profilehub/profilehub ]; then \
		rm -f $(INSTALL_BIN); \
	elif [ -e $(INSTALL_BIN) ] || [ -L $(INSTALL_BIN) ]; then \
		echo "uninstall: $(INSTALL_BIN) is kept: it is not the link install made"; \
	fi
	@for d in $(INSTALL_LIB)/plugins $(INSTALL_LIB) $(DESTDIR)$(PREFIX)/include/profilehub \
		$(INSTALL_SHARE)/examples $(INSTALL_SHARE); do \
		[ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || \
			echo "uninstall: $$d is kept: it holds files install did not put there"; \
	done
