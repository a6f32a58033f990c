#!/usr/bin/env bash
# make fuzz: builds each tests/fuzz/fuzz_*.c with libFuzzer, ASan and UBSan
# and runs it for FUZZ_SECONDS (default 30) on its corpus
# (tests/fuzz/corpus/NAME/, kept in the repository; new finds are added
# to a scratch copy only), with a fixed seed (FUZZ_SEED, default 1) so
# that the short run in `make check` repeats what was run before.  Any crash, leak or sanitizer report fails.
set -eu
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-30}
OUT=build-fuzz
mkdir -p "$OUT"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -Ilib -Icompat -fsanitize=fuzzer,address,undefined
  -fno-sanitize-recover=undefined -DSATMAIL_SYSCONFDIR=\"/nonexistent\"
  -DSATMAIL_LIBEXECDIR=\"/nonexistent\" -DSATMAIL_QUEUEDIR=\"/nonexistent\"
  $(pkg-config --cflags libcdb libpcre2-8 2>/dev/null)"
LIBS="$(pkg-config --libs libssl libcrypto ldns libcdb libgsasl libpcre2-8 libidn2 2>/dev/null)"
status=0
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	echo "== $name ($SECS s)"
	# shellcheck disable=SC2086
	clang $CFLAGS -o "$OUT/$name" "$src" lib/*.c $LIBS
	corpus="tests/fuzz/corpus/${name#fuzz_}"
	work="$OUT/corpus-$name"
	rm -rf "$work"; mkdir -p "$work"
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
	if ! "$OUT/$name" -max_total_time="$SECS" -max_len=4096 -timeout=30 -seed="${FUZZ_SEED:-1}" \
	    -rss_limit_mb=1024 -print_final_stats=1 "$work" > "$OUT/$name.log" 2>&1; then
		tail -n 40 "$OUT/$name.log"
		echo "FAIL $name"
		status=1
	else
		echo "PASS $name ($(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$OUT/$name.log" | tail -1 | awk '{print $2}') runs)"
	fi
done
exit $status
