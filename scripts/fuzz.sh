#!/bin/sh
# Builds the libFuzzer harnesses of tests/fuzz with AddressSanitizer and
# UBSan and runs each for SECONDS (default 60), starting from the seed
# corpus in tests/fuzz/corpus: the harnesses named after SECONDS, or every
# tests/fuzz/fuzz_NAME.c. Exits non-zero on the first finding; the
# crashing input is left in build/fuzz/.
set -eu
SECONDS_EACH=${1:-60}
shift || true
TARGETS=${*:-$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||')}
B=build/fuzz
mkdir -p "$B"
# The Makefile's warnings, as every other build has them.
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla"
CFLAGS="-std=c11 -D_GNU_SOURCE $WARN -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -iquote src"
LIB_SRC=$(ls src/*.c | grep -v -e 'src/main.c' -e 'src/cmd_')
for t in $TARGETS; do
    clang $CFLAGS -o "$B/fuzz_$t" "tests/fuzz/fuzz_$t.c" $LIB_SRC -ljansson -lisal -lm -pthread
done
for t in $TARGETS; do
    mkdir -p "$B/corpus_$t"
    echo "fuzz: $t for ${SECONDS_EACH}s"
    (cd "$B" && ./"fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 \
        -print_final_stats=1 "corpus_$t" "../../tests/fuzz/corpus/$t" 2>"fuzz_$t.log") || {
        echo "fuzz: $t found a problem; see $B/fuzz_$t.log"; tail -40 "$B/fuzz_$t.log"; exit 1; }
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$B/fuzz_$t.log" | sed "s/^/  $t /"
done
echo "fuzz: no findings"
