# pullgate — a plain Makefile.
#
#   make                      build ./pullgate (OpenSSL crypto backend)
#   make CRYPTO=mbedtls       build with the mbedTLS backend
#   make SANITIZER=address    build with AddressSanitizer and UBSan
#   make run                  install build dependencies, build, run the daemon
#   make test                 install build and test dependencies, build, test
#   make bench                benchmarks
#   make CROSS=aarch64-linux-gnu   cross-build for arm64 (arm-linux-gnueabihf:
#                             armhf) against a sysroot of Debian's packages
#   make install              install (PREFIX=/usr/local, DESTDIR, SYSCONFDIR)
#   make deb [ARCH=arm64]     the Debian package, in build/deb/
#   make fuzz [FUZZ_SECONDS=60]  every libFuzzer target (clang-14) that long,
#                             with its corpus: executions, coverage, crashes
#
# Objects of each variant go to build/<crypto>[-<sanitizer>]/, so variants
# never mix (the fuzz targets' clang objects to build/fuzz/); ./pullgate is
# the binary of the last variant built.

CRYPTO		?= openssl
SANITIZER	?=
CC		?= cc
PKG_CONFIG	?= pkg-config

CROSS		?=
VARIANT		:= $(CRYPTO)$(if $(SANITIZER),-$(SANITIZER))$(if $(CROSS),-$(CROSS))
BUILD		:= build/$(VARIANT)

# A cross build compiles with Debian's cross compiler against a sysroot of
# the archive's libraries for that architecture (packaging/cross-sysroot.sh).
ifneq ($(CROSS),)
SYSROOT		?= $(CURDIR)/build/sysroot-$(CROSS)
CC		:= $(CROSS)-gcc
PKG_CONFIG	:= PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) \
		   PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(CROSS)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig \
		   pkg-config
CROSS_FLAGS	:= --sysroot=$(SYSROOT)
CROSS_LDFLAGS	:= --sysroot=$(SYSROOT) -Wl,-rpath-link,$(SYSROOT)/usr/lib/$(CROSS)
endif

PKGS		:= libevent libcurl jansson libconfig zlib liblzma
ifeq ($(CRYPTO),openssl)
PKGS		+= openssl
CRYPTO_LIBS	:=
else ifeq ($(CRYPTO),mbedtls)
CRYPTO_LIBS	:= -lmbedx509 -lmbedcrypto
else
$(error CRYPTO must be openssl or mbedtls)
endif

# The layers, bottom first: a file includes its own layer's header and
# those below it, never one above (tests/structure.sh checks it).
LAYERS		:= lib certs proxy/store proxy/config proxy agent

CFLAGS		?= -O2 -g
CFLAGS		+= $(CROSS_FLAGS) -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter \
		   -Wformat=2 -Wno-format-nonliteral -D_GNU_SOURCE \
		   $(LAYERS:%=-I%)
# libcrypt (libxcrypt) checks clients' bcrypt passwords: neither OpenSSL
# nor mbedTLS has bcrypt.
LDLIBS		:= -lcrypt -lpthread

LDFLAGS		+= $(CROSS_LDFLAGS)

ifneq ($(SANITIZER),)
CFLAGS		+= -fsanitize=$(SANITIZER),undefined -fno-omit-frame-pointer
LDFLAGS		+= -fsanitize=$(SANITIZER),undefined
endif

# pkg-config is only asked when something is compiled, so 'make deps'
# works on a machine that has none of the libraries yet.
PKG_CFLAGS	= $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS	= $(shell $(PKG_CONFIG) --libs $(PKGS)) $(CRYPTO_LIBS)

LIB_SRCS	:= $(filter-out agent/main.c certs/crypto_%.c,$(wildcard \
		   $(LAYERS:%=%/*.c))) certs/crypto_$(CRYPTO).c
LIB_OBJS	:= $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ	:= $(BUILD)/agent/main.o
HEADERS		:= $(wildcard $(LAYERS:%=%/*.h))

UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps run test unit integration bench clean install deb \
		fuzz-bins fuzz

all: pullgate

$(BUILD)/pullgate: $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

pullgate: $(BUILD)/pullgate
	rm -f $@ && cp $< $@

$(LIB_OBJS) $(MAIN_OBJ): | $(if $(CROSS),$(SYSROOT)/.complete)

$(SYSROOT)/.complete:
	sh packaging/cross-sysroot.sh $(CROSS) $(SYSROOT)

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) \
	    $(shell $(PKG_CONFIG) --libs cmocka) $(LDLIBS)

unit-bins: $(UNIT_BINS)

deps:
	sh packaging/install-deps.sh build

test-deps:
	sh packaging/install-deps.sh test

run: deps
	$(MAKE) pullgate
	./pullgate serve

# Builds every variant the tests use, then runs them all.
test: test-deps
	$(MAKE) pullgate unit-bins
	$(MAKE) CRYPTO=mbedtls unit-bins build/mbedtls/pullgate
	$(MAKE) SANITIZER=address unit-bins build/openssl-address/pullgate
	$(MAKE) fuzz-bins
	sh tests/run.sh

# The libFuzzer targets (tests/fuzz/fuzz_*.c): clang-14 with ASan and
# UBSan, the library objects instrumented apart in build/fuzz/, always
# with OpenSSL, so they never mix with a gcc variant's.
FUZZ_CC		:= clang-14
FUZZ_BUILD	:= build/fuzz
FUZZ_SECONDS	?= 60
FUZZ_PKGS	:= libevent libcurl jansson libconfig zlib liblzma openssl
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS	:= -O1 -g -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra \
		   -Wno-unused-parameter -Wno-missing-field-initializers \
		   -D_GNU_SOURCE $(LAYERS:%=-I%) $(FUZZ_SAN)
FUZZ_SRCS	:= $(filter-out agent/main.c certs/crypto_%.c,$(wildcard \
		   $(LAYERS:%=%/*.c))) certs/crypto_openssl.c
FUZZ_OBJS	:= $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS	:= $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard \
		   tests/fuzz/fuzz_*.c))

$(FUZZ_BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    $(shell $(PKG_CONFIG) --cflags $(FUZZ_PKGS)) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    $(shell $(PKG_CONFIG) --cflags $(FUZZ_PKGS)) -o $@ $< $(FUZZ_OBJS) \
	    $(shell $(PKG_CONFIG) --libs $(FUZZ_PKGS)) $(LDLIBS)

# Only pattern rules name them: keep them, not as intermediate files.
.SECONDARY: $(FUZZ_OBJS)

fuzz-bins: $(FUZZ_BINS)

fuzz: test-deps
	$(MAKE) fuzz-bins
	sh tests/fuzz/run.sh -max_total_time=$(FUZZ_SECONDS)

bench:
	sh packaging/install-deps.sh bench
	$(MAKE) pullgate
	sh tests/bench/run.sh

# Installation. The configuration is installed only where none exists; a
# changed one is kept and the shipped file goes next to it as .new.
PREFIX		?= /usr/local
SYSCONFDIR	?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
BINDIR		:= $(PREFIX)/bin
MANDIR		:= $(PREFIX)/share/man
DOCDIR		:= $(PREFIX)/share/doc/pullgate
UNITDIR		?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

install: pullgate
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSCONFDIR)/pullgate
	install -m 0700 -d $(DESTDIR)$(SYSCONFDIR)/pullgate/secrets
	install -m 0755 pullgate $(DESTDIR)$(BINDIR)/pullgate
	install -m 0644 packaging/man/pullgate.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 packaging/man/pullgate.conf.5 $(DESTDIR)$(MANDIR)/man5/
	sed 's|/usr/bin/pullgate|$(BINDIR)/pullgate|; s|/etc/pullgate/|$(SYSCONFDIR)/pullgate/|' \
	    packaging/systemd/pullgate.service > $(DESTDIR)$(UNITDIR)/pullgate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pullgate.service
	cp -R etc/apt etc/containerd etc/containers etc/docker etc/k3s etc/opkg \
	    packaging/hosts $(DESTDIR)$(DOCDIR)/examples/
	conf=$(DESTDIR)$(SYSCONFDIR)/pullgate/pullgate.conf; \
	if [ ! -e "$$conf" ]; then install -m 0644 etc/pullgate.conf "$$conf"; \
	elif ! cmp -s etc/pullgate.conf "$$conf"; then \
		install -m 0644 etc/pullgate.conf "$$conf.new"; \
		echo "kept your $$conf; the shipped one is $$conf.new"; fi

# The Debian package, built with debhelper from a copy of the tree
# (ARCH=arm64 or armhf cross-builds it).
deb:
	sh packaging/debian/build.sh $(ARCH)

clean:
	rm -rf build pullgate
