#!/bin/sh
# The README's main job (scripts/run-demo) on this build: the sample
# configuration passes acgwd -t, acgwd starts, answers, refuses a broken
# reload, reloads and stops cleanly. The sample names the groups acgw and
# acgw-admin (created by scripts/install-deps); without them: SKIP.
set -u
src=${ACGW_SRCDIR:?run with make check}
build=${ACGW_BUILDDIR:?run with make check}
if ! getent group acgw >/dev/null || ! getent group acgw-admin >/dev/null; then
	echo "SKIP: groups acgw and acgw-admin missing (scripts/install-deps creates them)"
	exit 77
fi
out=$(timeout 120 sh "$src/scripts/run-demo" "$build" 2>&1)
rc=$?
fail=0
check() { echo "$out" | grep -qF -- "$1" || { echo "FAIL: demo output lacks: $1"; fail=1; }; }
[ $rc -eq 0 ] || { echo "FAIL: run-demo exited $rc"; fail=1; }
check "configuration ok"
check "state            running"
check "r3.listen: \"0.0.0.0:8443\" is a wildcard address; set r3.allow_wildcard: true to permit it"
check "\"reloads\":1,\"reload_failures\":1"
check "notice: stopped"
check "demo: ok"
[ $fail -eq 0 ] || echo "$out"
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
