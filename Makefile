# pullgate — a plain Makefile.
#
#   make                      build ./pullgate (OpenSSL crypto backend)
#   make CRYPTO=mbedtls       build with the mbedTLS backend
#   make SANITIZER=address    build with AddressSanitizer and UBSan
#   make run                  install build dependencies, build, run the daemon
#   make test                 install build and test dependencies, build, test
#   make bench                benchmarks
#
# Objects of each variant go to build/<crypto>[-<sanitizer>]/, so variants
# never mix; ./pullgate is the binary of the last variant built.

CRYPTO		?= openssl
SANITIZER	?=
CC		?= cc
PKG_CONFIG	?= pkg-config

VARIANT		:= $(CRYPTO)$(if $(SANITIZER),-$(SANITIZER))
BUILD		:= build/$(VARIANT)

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
CFLAGS		+= -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter \
		   -Wformat=2 -Wno-format-nonliteral -D_GNU_SOURCE \
		   $(LAYERS:%=-I%)
# libcrypt (libxcrypt) checks clients' bcrypt passwords: neither OpenSSL
# nor mbedTLS has bcrypt.
LDLIBS		:= -lcrypt -lpthread

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

.PHONY: all deps test-deps run test unit integration bench clean

all: pullgate

$(BUILD)/pullgate: $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

pullgate: $(BUILD)/pullgate
	rm -f $@ && cp $< $@

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

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
	sh tests/run.sh

bench:
	sh packaging/install-deps.sh bench
	$(MAKE) pullgate
	sh tests/bench/run.sh

clean:
	rm -rf build pullgate
