# memdbg build. `make` builds the C modules for Lua 5.4; `make LUA=luajit`
# builds the same sources for LuaJIT (Neovim), `make LUA=lua5.1` for Lua 5.1.
# `make test` runs every spec.
#
# LUA is the interpreter built for: a name (lua5.4, lua5.1, luajit) or a path
# (luarocks passes its $(LUA), e.g. /usr/bin/lua5.1). Each interpreter builds
# into a folder of its own, so builds for several never mix.
LUA        ?= lua5.4
PREFIX     ?= /usr/local
SANITIZE   ?=

LUA_NAME    := $(notdir $(LUA))
# The Lua version (5.1 for LuaJIT) from the interpreter itself, else its name.
LUA_VERSION := $(shell $(LUA) -e 'io.write((_VERSION:match("%d+%.%d+")))' 2>/dev/null)
ifeq ($(LUA_VERSION),)
  LUA_VERSION := $(if $(findstring luajit,$(LUA_NAME)),5.1,$(patsubst lua%,%,$(LUA_NAME)))
endif
LUA_PC := $(if $(findstring luajit,$(LUA_NAME)),luajit,lua$(LUA_VERSION))
# luarocks passes LUA_INCDIR (and the install folders below); otherwise pkg-config.
ifneq ($(LUA_INCDIR),)
  LUA_CFLAGS := -I$(LUA_INCDIR)
else
  LUA_CFLAGS := $(shell pkg-config --cflags $(LUA_PC))
endif
LUADIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
BINDIR ?= $(PREFIX)/bin

CC      ?= cc
CFLAGS  ?= -O2 -g
# Our own flags live apart from CFLAGS, which luarocks sets on the command line.
MY_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Wshadow -Wno-unused-parameter \
             $(LUA_CFLAGS) -Icsrc
LDFLAGS += -shared -pthread

BUILD ?= build/$(LUA_NAME)
ifneq ($(ROCKS_BUILD),)
  BUILD := build/rocks-$(LUA_NAME)
endif
ifneq ($(SANITIZE),)
  BUILD   := $(BUILD)-san
  MY_CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  # The interpreter is not built with ASan, so the runtime must be preloaded.
  SAN_ENV := LD_PRELOAD="$(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)" \
             ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
             MEMDBG_SANITIZED=1
endif

# The command the modules are built with, kept in $(FLAGS): when it changes
# (other headers, flags, sanitizers) the modules are rebuilt.
FLAGS := $(BUILD)/memdbg/.flags
COMPILE := $(CC) $(CFLAGS) $(MY_CFLAGS) $(LDFLAGS)

CORE_SRC := $(wildcard csrc/core/*.c)
HEAP_SRC := $(wildcard csrc/heap/*.c)
CORE_SO  := $(BUILD)/memdbg/_core.so
HEAP_SO  := $(BUILD)/memdbg/_heap.so
MOCK_BIN := $(BUILD)/mock_inspector
HDRS     := $(wildcard csrc/*.h csrc/core/*.h csrc/heap/*.h)

BUSTED   := $(LUA) /usr/bin/busted
VALGRIND_SPECS ?= spec/transport_mock_spec.lua spec/transport_node_spec.lua \
                  spec/heap_parse_spec.lua spec/heap_analysis_spec.lua spec/heap_jsc_spec.lua \
                  spec/files_input_spec.lua spec/core_actions_spec.lua spec/core_metricsd_spec.lua
SPEC_ENV := MEMDBG_BUILD=$(BUILD) $(SAN_ENV)

# `make fuzz`: the libFuzzer targets (clang; not part of check), each for FUZZ_SECONDS
# or FUZZ_RUNS inputs (-1: no limit), from the seeds in csrc/fuzz/corpus/. See docs/fuzzing.md.
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1

.PHONY: FORCE all modules paths deps check test test-luajit valgrind sanitize install lint format clean fuzz bench demo

all: $(CORE_SO) $(HEAP_SO) $(MOCK_BIN)

fuzz: FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -pthread -Icsrc
fuzz:
	mkdir -p build/fuzz/heap build/fuzz/jsonscan build/fuzz/transport build/fuzz/sink
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_heap csrc/fuzz/fuzz_heap.c $(filter-out %/lua_heap.c,$(HEAP_SRC)) -lm
	clang $(FUZZ_CFLAGS) $(LUA_CFLAGS) -o build/fuzz/fuzz_jsonscan csrc/fuzz/fuzz_jsonscan.c csrc/core/jsonscan.c
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_transport csrc/fuzz/fuzz_transport.c csrc/core/httphead.c csrc/core/wsframe.c
	clang $(FUZZ_CFLAGS) $(LUA_CFLAGS) -o build/fuzz/fuzz_sink csrc/fuzz/fuzz_sink.c csrc/core/sink.c csrc/core/jsonscan.c \
	  csrc/core/files.c csrc/core/util.c -llua5.4
	for t in heap:heapsnapshot jsonscan:jsonscan transport:transport sink:sink; do build/fuzz/fuzz_$${t%%:*} -max_total_time=$(FUZZ_SECONDS) \
	  -runs=$(FUZZ_RUNS) -max_len=4096 -dict=csrc/fuzz/$${t#*:}.dict -artifact_prefix=build/fuzz/ \
	  build/fuzz/$${t%%:*} csrc/fuzz/corpus/$${t%%:*} || exit 1; done

modules: $(CORE_SO) $(HEAP_SO)

$(FLAGS): FORCE | $(BUILD)/memdbg
	@test "$$(cat $@ 2>/dev/null)" = '$(COMPILE)' || printf '%s\n' '$(COMPILE)' > $@

$(CORE_SO): $(CORE_SRC) $(HDRS) $(FLAGS) | $(BUILD)/memdbg
	$(CC) $(CFLAGS) $(MY_CFLAGS) -o $@ $(CORE_SRC) $(LDFLAGS)

$(HEAP_SO): $(HEAP_SRC) $(HDRS) $(FLAGS) | $(BUILD)/memdbg
	$(CC) $(CFLAGS) $(MY_CFLAGS) -o $@ $(HEAP_SRC) $(LDFLAGS) -lm

MOCK_SRC := spec/mock/mock_inspector.c csrc/core/jsonscan.c csrc/core/wskey.c
$(MOCK_BIN): $(MOCK_SRC) $(HDRS) $(FLAGS) | $(BUILD)/memdbg
	$(CC) $(CFLAGS) $(filter-out -fPIC,$(MY_CFLAGS)) -o $@ $(MOCK_SRC) $(filter-out -shared,$(LDFLAGS))

$(BUILD)/memdbg:
	mkdir -p $@

# `eval "$(make -s paths)"`: LUA_PATH and LUA_CPATH for this checkout's build,
# so scripts/*.lua (and copies of them) find memdbg as they do once installed.
paths:
	@echo "export LUA_PATH='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;'"
	@echo "export LUA_CPATH='$(CURDIR)/$(BUILD)/?.so;;'"

# Installs the Debian packages the build and the tests need (as root, with apt).
deps:
	sh tools/install-deps.sh

test: all
	$(SPEC_ENV) $(BUSTED) --cpath='$(BUILD)/?.so' $(BUSTED_ARGS)

sanitize:
	$(MAKE) test SANITIZE=1

test-luajit:
	$(MAKE) test LUA=luajit

# The C core under valgrind (memcheck) on the transport and heap specs.
valgrind: all
	MEMDBG_BUILD=$(BUILD) MEMDBG_VALGRIND=1 valgrind -q --error-exitcode=99 --leak-check=no \
	  --suppressions=tools/valgrind.supp $(BUSTED) --cpath='$(BUILD)/?.so' $(VALGRIND_SPECS)

# The main job end to end: build, start a leaking demo Node app, hunt the leak.
demo:
	sh tools/demo.sh

# Everything CI runs, from a fresh machine: installs what is missing, then the
# whole suite under Lua 5.4, again under ASan+UBSan, under LuaJIT, and the C
# core's specs under valgrind.
check:
	sh tools/install-deps.sh
	sh tools/install-runtimes.sh
	$(MAKE) all
	$(MAKE) test
	$(MAKE) test SANITIZE=1
	$(MAKE) test LUA=luajit
	$(MAKE) valgrind

install: $(CORE_SO) $(HEAP_SO)
	install -d $(DESTDIR)$(LUADIR)/memdbg $(DESTDIR)$(LIBDIR)/memdbg $(DESTDIR)$(BINDIR)
	cd lua && find memdbg -name '*.lua' | while read f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LUADIR)/$$f"; done
	install -m 0755 $(CORE_SO) $(HEAP_SO) $(DESTDIR)$(LIBDIR)/memdbg/
	sed '1s|.*|#!$(if $(filter /%,$(LUA)),,/usr/bin/env )$(LUA)|' scripts/memdbg > $(DESTDIR)$(BINDIR)/memdbg
	chmod 0755 $(DESTDIR)$(BINDIR)/memdbg

lint:
	luacheck lua scripts spec bench
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Icsrc csrc spec/mock
	clang-tidy --quiet csrc/core/*.c csrc/heap/*.c -- -std=c11 -D_GNU_SOURCE -Icsrc $(LUA_CFLAGS)
	clang-format --dry-run -Werror csrc/*.h csrc/*/*.[ch] spec/mock/*.c

format:
	clang-format -i csrc/*.h csrc/*/*.[ch] spec/mock/*.c

clean:
	rm -rf build
