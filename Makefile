# Builds build/api-server and build/signaling-server (and, with SANITIZE=1, build/san/...), the unit tests, and runs
# the project: `make run` and `make test` are the two commands a newcomer needs (see README).

CC ?= cc
SANITIZE ?= 0
PKGS := libmicrohttpd libulfius liborcania libyder jansson libpq libjwt libargon2 libcrypto libwebsockets xlsxwriter
# libcurl (the outbound messages' SMTP and HTTP client) is linked into api-server only.
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)

ifeq ($(SANITIZE),1)
BUILD := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1 -g
else
BUILD := build
SANFLAGS :=
OPT := -O2 -g
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -Icommon -Iapi-server -Isignaling-server \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS_ALL := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lmicrohttpd -lulfius -lorcania -lyder -ljansson -lpq -ljwt -largon2 -lcrypto -lwebsockets -lxlsxwriter) -lpthread
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
API_SRC := $(wildcard api-server/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
API_OBJ := $(API_SRC:%.c=$(BUILD)/obj/%.o)
SIG_SRC := $(wildcard signaling-server/*.c)
SIG_OBJ := $(SIG_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all unit-tests run test bench fuzz deps clean sanitize web
all: $(BUILD)/api-server $(BUILD)/signaling-server

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h api-server/*.h signaling-server/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libclinic-common.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/api-server: $(API_OBJ) $(BUILD)/libclinic-common.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(API_OBJ) $(BUILD)/libclinic-common.a $(LDLIBS_ALL) $(CURL_LIBS)

$(BUILD)/signaling-server: $(SIG_OBJ) $(BUILD)/libclinic-common.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(SIG_OBJ) $(BUILD)/libclinic-common.a $(LDLIBS_ALL) -lev

unit-tests: $(UNIT_BIN)

# The codecs of the signaling server are tested on their own.
$(BUILD)/tests/test_sio: tests/unit/test_sio.c $(BUILD)/obj/signaling-server/sio.o $(BUILD)/libclinic-common.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/obj/signaling-server/sio.o $(BUILD)/libclinic-common.a $(LDFLAGS_ALL) \
	  $(LDLIBS_ALL) -lcmocka

$(BUILD)/tests/test_eio: tests/unit/test_eio.c $(BUILD)/obj/signaling-server/eio.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/obj/signaling-server/eio.o $(LDFLAGS_ALL) -lcmocka

# The webhook URL guard and signature (api-server) with libcurl's URL parser.
$(BUILD)/tests/test_webhook: tests/unit/test_webhook.c $(BUILD)/obj/api-server/webhook_url.o \
                             $(BUILD)/obj/api-server/webhook_send.o $(BUILD)/libclinic-common.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/obj/api-server/webhook_url.o $(BUILD)/obj/api-server/webhook_send.o \
	  $(BUILD)/libclinic-common.a $(LDFLAGS_ALL) $(LDLIBS_ALL) $(CURL_LIBS) -lcmocka

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libclinic-common.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libclinic-common.a $(LDFLAGS_ALL) $(LDLIBS_ALL) -lcmocka

sanitize:
	$(MAKE) SANITIZE=1 all

deps:
	bash scripts/deps.sh build

# The console's browser libraries from npm into web/vendor/ (see scripts/web.sh).
web:
	bash scripts/web.sh

run: deps all web
	bash scripts/run.sh

test:
	bash scripts/deps.sh test
	bash scripts/test.sh

bench: deps all
	bash tests/bench/run.sh

# libFuzzer over the parsers of network bytes (the Socket.IO codec, the long-polling payload, the /ws frame
# checker, the API's query-string checker, the Range header and the file type and name of an upload), each for
# FUZZ_SECONDS (default 60); findings are written to build/fuzz/. The seed corpora are copied so the
# run never changes the repository.
FUZZ_SECONDS ?= 60
FUZZ_CC := clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icommon -Isignaling-server
fuzz:
	bash scripts/deps.sh fuzz
	@mkdir -p build/fuzz/corpus-sio build/fuzz/corpus-eio build/fuzz/corpus-wsjson build/fuzz/corpus-query \
	  build/fuzz/corpus-files build/fuzz/corpus-clientaddr
	cp tests/fuzz/corpus/sio/* build/fuzz/corpus-sio/
	cp tests/fuzz/corpus/eio/* build/fuzz/corpus-eio/
	cp tests/fuzz/corpus/wsjson/* build/fuzz/corpus-wsjson/
	cp tests/fuzz/corpus/query/* build/fuzz/corpus-query/
	cp tests/fuzz/corpus/files/* build/fuzz/corpus-files/
	cp tests/fuzz/corpus/clientaddr/* build/fuzz/corpus-clientaddr/
	$(FUZZ_CC) $(shell pkg-config --cflags jansson) tests/fuzz/fuzz_sio.c signaling-server/sio.c \
	  $(shell pkg-config --libs jansson) -o build/fuzz/fuzz_sio
	$(FUZZ_CC) $(shell pkg-config --cflags jansson) tests/fuzz/fuzz_eio.c signaling-server/eio.c signaling-server/sio.c \
	  $(shell pkg-config --libs jansson) -o build/fuzz/fuzz_eio
	$(FUZZ_CC) $(shell pkg-config --cflags jansson) tests/fuzz/fuzz_wsjson.c signaling-server/wsjson.c common/validate.c \
	  $(shell pkg-config --libs jansson) -o build/fuzz/fuzz_wsjson
	$(FUZZ_CC) $(shell pkg-config --cflags jansson) tests/fuzz/fuzz_query.c common/query.c common/validate.c \
	  common/crypto.c $(shell pkg-config --libs jansson libcrypto) -o build/fuzz/fuzz_query
	$(FUZZ_CC) tests/fuzz/fuzz_files.c common/byterange.c common/filetype.c -o build/fuzz/fuzz_files
	$(FUZZ_CC) tests/fuzz/fuzz_clientaddr.c common/clientaddr.c -o build/fuzz/fuzz_clientaddr
	cd build/fuzz && ./fuzz_sio -max_total_time=$(FUZZ_SECONDS) corpus-sio
	cd build/fuzz && ./fuzz_eio -max_total_time=$(FUZZ_SECONDS) corpus-eio
	cd build/fuzz && ./fuzz_wsjson -max_total_time=$(FUZZ_SECONDS) corpus-wsjson
	cd build/fuzz && ./fuzz_query -max_total_time=$(FUZZ_SECONDS) corpus-query
	cd build/fuzz && ./fuzz_files -max_total_time=$(FUZZ_SECONDS) corpus-files
	cd build/fuzz && ./fuzz_clientaddr -max_total_time=$(FUZZ_SECONDS) corpus-clientaddr

clean:
	rm -rf build
