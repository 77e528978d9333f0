#!/bin/sh
# Documentation and packaging checks: man pages render without warnings,
# every option in the man pages exists in the programs and the other way
# round, every example scenario is valid and described in
# acgw-mockdispatch(1), and the systemd unit verifies and stays hardened.
# (Every config key against acgwd.yaml(5) is checked in test_config.)
set -u
src=${ACGW_SRCDIR:?run with make check}
build=${ACGW_BUILDDIR:?run with make check}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for page in acgwd.8 acgwctl.8 acgwd.yaml.5 acgw-state.5 acgw-attestation.5 acgw-audit.5 acgw-mockdispatch.1 acgw-mockra.1; do
	out=$(groff -man -ww -z "$src/man/$page" 2>&1)
	[ -z "$out" ] || bad "groff warns about $page: $out"
done

# Options the man page documents (".B \-x" / ".BR \-\-long" in OPTIONS)
# and options the program's usage names must be the same set.
man_opts() {
	# The line after each .TP in OPTIONS is an option head; a long
	# option's inner dashes are "\-" too (\-\-wrong\-name\-cert).
	sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$src/man/$1" |
		awk 'prev == ".TP" { print } { prev = $0 }' |
		grep -oE '\\-(\\-[a-z]([a-z]|\\-)*|[A-Za-z])' |
		sed 's/\\//g' | sort -u
}
usage_opts() {
	# The synopsis ("usage:" and its indented continuation lines) and
	# the option list, up to the first line that starts with anything
	# else (acgwctl's command list, the tools' "Exit status:"). There,
	# an option is a word that starts with - or -- after the start of
	# the line, a blank, "[", "(", "|" or ",": "  -l, --listen",
	# "      --cert, --key", "[--probe-timeout DURATION]", "-V | -h".
	"$build/$1" -h | awk '/^usage:/ || /^ / { print; next } { exit }' |
		grep -oE '(^|[][ (|,])--?[A-Za-z][A-Za-z-]*' |
		sed 's/^[][ (|,]*//' | sort -u
}
for prog in acgwd:acgwd.8 acgwctl:acgwctl.8 \
    acgw-mockdispatch:acgw-mockdispatch.1 acgw-mockra:acgw-mockra.1; do
	p=${prog%%:*}
	page=${prog#*:}
	m=$(man_opts "$page")
	u=$(usage_opts "$p")
	[ -n "$m" ] || bad "$page: found no options in its OPTIONS section"
	for o in $u; do
		echo "$m" | grep -qx -- "$o" || bad "$p: option $o is not in $page"
	done
	for o in $m; do
		echo "$u" | grep -qx -- "$o" || bad "$page: option $o is not in $p -h"
	done
done

# Every example scenario passes "acgw-mockdispatch -t" and is described
# under FILES in acgw-mockdispatch(1).
n=0
for f in "$src"/etc/scenarios/*.yaml; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	out=$("$build/acgw-mockdispatch" -t -s "$f" 2>&1) ||
		bad "acgw-mockdispatch -t -s $f: $out"
	b=$(basename "$f" | sed 's/-/\\\\-/g')
	sed -n '/^\.SH FILES/,/^\.SH /p' "$src/man/acgw-mockdispatch.1" |
		grep -qx "\.B $b" ||
		bad "acgw-mockdispatch.1: FILES does not describe $(basename "$f")"
done
[ $n -gt 0 ] || bad "no example scenarios in $src/etc/scenarios"

# The unit verifies (with its paths pointed at this build) and keeps its
# hardening: exposure at most 2.0 on systemd-analyze's 0-10 scale.
unit="$build/systemd/acgwd.service"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^\(Exec[A-Za-z]*=\)[^ ]*/acgwd |\1$build/acgwd |" "$unit" > "$tmp/acgwd.service"
out=$(MANPATH="$src/man:$tmp" systemd-analyze verify --man=no "$tmp/acgwd.service" 2>&1) ||
	bad "systemd-analyze verify: $out"
[ -z "$out" ] || bad "systemd-analyze verify says: $out"
score=$(systemd-analyze security --offline=yes "$tmp/acgwd.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for acgwd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || bad "systemd-analyze security printed no exposure level"
[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
	bad "unit exposure $score is above 2.0: hardening was lost"
echo "unit exposure level: $score"

[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
