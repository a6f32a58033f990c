# satmail - GNU make build.  Targets: all (default), check, demo, deps,
# install, bench, fuzz, clean.  No autotools: flags come from pkg-config.
#
#   make                     build into build/
#   make SAN=1 BUILD=build-san   AddressSanitizer + UndefinedBehaviorSanitizer build
#   make check               deps, both builds, every unit and integration test
#   make install PREFIX=/usr DESTDIR=/tmp/x

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/satmail
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc/satmail
QUEUEDIR   ?= /var/spool/satmail
DESTDIR    ?=
BUILD      ?= build
SAN        ?= 0
CHECK_FUZZ_SECONDS ?= 10

PKGS    := libssl libcrypto ldns libcdb libgsasl libpcre2-8 libidn2
CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wcast-qual -Wpointer-arith -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -Ilib -Icompat \
           -DSATMAIL_SYSCONFDIR='"$(SYSCONFDIR)"' \
           -DSATMAIL_LIBEXECDIR='"$(LIBEXECDIR)"' \
           -DSATMAIL_QUEUEDIR='"$(QUEUEDIR)"' \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC   := $(wildcard lib/*.c) $(wildcard compat/*.c)
LIB_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
LIBA      := $(BUILD)/libsatmail.a
PROGS     := $(patsubst cmd/%.c,%,$(wildcard cmd/*.c))
BINS      := $(addprefix $(BUILD)/bin/,$(PROGS))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all check check-build unit integration demo deps install bench fuzz clean
.DELETE_ON_ERROR:

all: $(BINS) $(BUILD)/bin/mailq $(BUILD)/bin/newaliases

# The compiled-in paths live in a stamp file, so that `make install
# PREFIX=/usr` after a plain `make` rebuilds with the right libexec path.
PATHS_STAMP := $(BUILD)/.paths
PATHS_NOW   := $(SYSCONFDIR) $(LIBEXECDIR) $(QUEUEDIR) $(SAN)
$(shell mkdir -p $(BUILD); [ "$$(cat $(PATHS_STAMP) 2>/dev/null)" = "$(PATHS_NOW)" ] || echo "$(PATHS_NOW)" > $(PATHS_STAMP))

$(BUILD)/obj/%.o: %.c $(wildcard lib/*.h compat/*.h) $(PATHS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/cmd/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# mailq and newaliases are sendmail under another name (argv[0] decides).
$(BUILD)/bin/mailq $(BUILD)/bin/newaliases: $(BUILD)/bin/sendmail
	ln -sf sendmail $@

$(BUILD)/tests/%: tests/unit/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS) -lcriterion

unit: all $(UNIT_BINS)
	@set -e; export LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0; \
	for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2; done

integration: all
	@BUILD=$(BUILD) bash tests/integration/run.sh

check-build: all $(UNIT_BINS)

# One pass in the normal build, one in the sanitizer build, then a short
# run of every fuzz target.
check: deps
	$(MAKE) unit integration
	$(MAKE) SAN=1 BUILD=build-san unit integration
	FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS) bash tests/fuzz/run.sh

deps:
	@bash scripts/deps.sh

demo: deps all
	@bash scripts/demo.sh

bench: all
	@SATMAIL_BIN=$(abspath $(BUILD))/bin bash bench/submit.sh
	@SATMAIL_BIN=$(abspath $(BUILD))/bin bash bench/remote.sh
	@SATMAIL_BIN=$(abspath $(BUILD))/bin bash bench/flush.sh

fuzz:
	@bash tests/fuzz/run.sh

install: all
	@BUILD=$(BUILD) DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) SBINDIR=$(SBINDIR) \
	  BINDIR=$(BINDIR) LIBEXECDIR=$(LIBEXECDIR) MANDIR=$(MANDIR) \
	  SYSCONFDIR=$(SYSCONFDIR) QUEUEDIR=$(QUEUEDIR) bash scripts/install.sh

clean:
	rm -rf build build-san build-fuzz
