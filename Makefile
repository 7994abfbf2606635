# xinyong -- build, test, benchmark and fuzz.
#
#   make            build build/xinyong and build/libxinyong.a
#   make demo       install what is missing, build, run the end-to-end example
#   make test       unit tests + black-box tests through the real binary
#   make test-slow  the same with 200 kills in each crash test and 10,000
#                   workloads in the engine's property test
#   make asan       the same tests under AddressSanitizer + UBSan
#   make tsan       the same tests under ThreadSanitizer
#   make coverage   the same tests on a --coverage build, then the share of
#                   each module's lines and branches they ran (MISSED=1:
#                   and every line never run)
#   make bench      throughput and memory figures
#   make fuzz       libFuzzer harnesses (FUZZ_SECONDS each, default 60)

CC      ?= cc
OPT     ?= -O2
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN    += -Werror
endif
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -Iinclude -iquote src $(EXTRA_CFLAGS)
LDLIBS  := -ljansson -lisal -lm -pthread
B       ?= build

LIB_SRC := $(filter-out src/main.c src/cmd_%.c,$(wildcard src/*.c))
CLI_SRC := src/main.c $(wildcard src/cmd_*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
CLI_OBJ := $(CLI_SRC:src/%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)

.PHONY: all deps demo test test-slow unit blackbox asan tsan coverage bench fuzz clean

all: deps $(B)/xinyong

deps:
	@./scripts/deps.sh

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) include/xinyong.h | $(B)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj:
	@mkdir -p $@

# Made afresh: ar would keep the member of a module since renamed or
# removed, and the linker could take a symbol from it.
$(B)/libxinyong.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/xinyong: $(CLI_OBJ) $(B)/libxinyong.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libxinyong.a $(LDLIBS)

$(B)/unit: $(UNIT_SRC) $(wildcard tests/unit/*.h) $(B)/libxinyong.a
	$(CC) $(CFLAGS) -Itests/unit -o $@ $(UNIT_SRC) $(B)/libxinyong.a $(LDLIBS)

demo: all
	@./scripts/demo.sh $(B)/xinyong

unit: all $(B)/unit
	@$(B)/unit

# The LD_PRELOAD shim of the fault-injection tests.
$(B)/fault.so: tests/fault/fault.c | $(B)/obj
	$(CC) -std=c11 $(WARN) -shared -fPIC -O2 -o $@ $< -ldl

test: all $(B)/unit $(B)/fault.so
	@./tests/run.sh $(B)

# The same with 200 kills in each crash test (CLI loads, the append path)
# instead of 20 and 12, and 10,000 workloads in the engine's property test
# instead of 1,000.
test-slow: all $(B)/unit $(B)/fault.so
	@CRASH_ROUNDS=200 XY_MODEL_SEEDS=10000 ./tests/run.sh $(B)

asan:
	@./scripts/deps.sh --dev
	$(MAKE) B=build/asan CC=clang OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  test

# The library runs threads of its own (the CSV parser, the log's writer,
# the append path's applier, the checks of replay and start-up): a data
# race among them makes a sanitized program exit 66, which fails its test.
tsan:
	@./scripts/deps.sh --dev
	$(MAKE) B=build/tsan CC=clang OPT=-O1 EXTRA_CFLAGS="-fsanitize=thread" test

# The counters of an earlier run are removed first: gcov adds to them.
coverage:
	@./scripts/deps.sh
	@rm -f build/cov/obj/*.gcda build/cov/*.gcda
	$(MAKE) B=build/cov OPT=-O0 EXTRA_CFLAGS=--coverage test
	@./scripts/coverage.sh build/cov $(if $(MISSED),--missed)

$(B)/bench: bench/bench.c bench/peers.c bench/bench.h $(B)/libxinyong.a
	$(CC) $(CFLAGS) -O3 -march=native -Ibench -o $@ bench/bench.c bench/peers.c $(B)/libxinyong.a $(LDLIBS) -lsqlite3

bench: all
	@./scripts/deps.sh --bench
	@$(MAKE) --no-print-directory $(B)/bench
	@$(B)/bench

FUZZ_SECONDS ?= 60
# Every harness of tests/fuzz unless narrowed (make fuzz FUZZ_TARGETS="csv log").
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	@./scripts/deps.sh --dev
	@./scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build
