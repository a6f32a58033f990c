#!/usr/bin/env bash
# Runs every tests/integration/test_*.sh against the programs in $BUILD/bin.
# Each test script prints "PASS name" / "FAIL name" lines and exits non-zero
# when any check failed.  The closing line counts the checks.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export BUILD=${BUILD:-build}
export SATMAIL_BIN=$(cd "$here/../.." && pwd)/$BUILD/bin
pass=0 fail=0 failed_scripts=""
for t in "$here"/test_*.sh; do
	name=$(basename "$t" .sh)
	out=$(mktemp)
	echo "== $name"
	bash "$t" > "$out" 2>&1
	rc=$?
	cat "$out"
	p=$(grep -c '^PASS ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name (script exited $rc)"
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f))
	[ "$f" -gt 0 ] && failed_scripts="$failed_scripts $name"
	rm -f "$out"
done
[ -n "$failed_scripts" ] && echo "failed:$failed_scripts"
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
