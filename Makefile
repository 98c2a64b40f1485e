# memdbg build. `make` builds the C modules for Lua 5.4; `make LUA=luajit`
# builds the same sources for LuaJIT (Neovim). `make test` runs every spec.
LUA        ?= lua5.4
PREFIX     ?= /usr/local
SANITIZE   ?=

ifeq ($(LUA),luajit)
  LUA_PC      := luajit
  LUA_VERSION := 5.1
else
  LUA_PC      := lua5.4
  LUA_VERSION := 5.4
endif

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Wshadow -Wno-unused-parameter
CFLAGS  += $(shell pkg-config --cflags $(LUA_PC) libwebsockets)
CFLAGS  += -Icsrc
LWS_LIBS := $(shell pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets)
LDFLAGS += -shared -pthread

BUILD := build/$(LUA)
ifneq ($(SANITIZE),)
  BUILD   := build/$(LUA)-san
  CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  # The interpreter is not built with ASan, so the runtime must be preloaded.
  SAN_ENV := LD_PRELOAD="$(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)" \
             ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
             MEMDBG_SANITIZED=1
endif

CORE_SRC := $(wildcard csrc/core/*.c)
HEAP_SRC := $(wildcard csrc/heap/*.c)
CORE_SO  := $(BUILD)/memdbg/core.so
HEAP_SO  := $(BUILD)/memdbg/_heap.so
MOCK_BIN := $(BUILD)/mock_inspector
HDRS     := $(wildcard csrc/*.h csrc/core/*.h csrc/heap/*.h)

BUSTED   := $(LUA) /usr/bin/busted
SPEC_ENV := MEMDBG_BUILD=$(BUILD) $(SAN_ENV)

.PHONY: all deps test test-fast sanitize install lint format clean fuzz bench demo

all: $(CORE_SO) $(HEAP_SO) $(MOCK_BIN)

$(CORE_SO): $(CORE_SRC) $(HDRS) | $(BUILD)/memdbg
	$(CC) $(CFLAGS) -o $@ $(CORE_SRC) $(LDFLAGS) $(LWS_LIBS)

$(HEAP_SO): $(HEAP_SRC) $(HDRS) | $(BUILD)/memdbg
	$(CC) $(CFLAGS) -o $@ $(HEAP_SRC) $(LDFLAGS) -lm

$(MOCK_BIN): spec/mock/mock_inspector.c | $(BUILD)/memdbg
	$(CC) $(filter-out -fPIC,$(CFLAGS)) -o $@ $< $(filter-out -shared,$(LDFLAGS)) $(LWS_LIBS)

$(BUILD)/memdbg:
	mkdir -p $@

# Installs the Debian packages the build and the tests need (as root, with apt).
deps:
	sh tools/install-deps.sh

test: all
	$(SPEC_ENV) $(BUSTED) --cpath='$(BUILD)/?.so' $(BUSTED_ARGS)

sanitize:
	$(MAKE) test SANITIZE=1

install: all
	install -d $(DESTDIR)$(PREFIX)/share/lua/$(LUA_VERSION)/memdbg $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_VERSION)/memdbg $(DESTDIR)$(PREFIX)/bin
	cd lua && find memdbg -name '*.lua' | while read f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/share/lua/$(LUA_VERSION)/$$f"; done
	install -m 0755 $(CORE_SO) $(HEAP_SO) $(DESTDIR)$(PREFIX)/lib/lua/$(LUA_VERSION)/memdbg/
	sed '1s|.*|#!/usr/bin/env $(LUA)|' scripts/memdbg > $(DESTDIR)$(PREFIX)/bin/memdbg
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/memdbg

lint:
	luacheck lua scripts spec bench
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Icsrc csrc spec/mock

format:
	clang-format -i csrc/*.h csrc/*/*.[ch] spec/mock/*.c

clean:
	rm -rf build
