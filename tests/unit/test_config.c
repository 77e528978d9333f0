/*
 * Unit tests for config: every class of error with its exact message,
 * defaults, and the settings table against acgwd.yaml(5).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/config.h"
#include "../lib/testlib.h"

static struct config_errors errs;

static struct config *
load(const char *yaml)
{
	return config_load_buffer("acgwd.yaml", yaml, strlen(yaml), &errs);
}

/* The text must be refused, with first as the first error. */
static void
refused(const char *yaml, const char *first)
{
	struct config *cfg = load(yaml);

	ck_assert_msg(cfg == NULL, "accepted: %s", yaml);
	ck_assert_uint_ge(errs.count, 1);
	ck_assert_str_eq(errs.msg[0], first);
}

START_TEST(defaults)
{
	struct config *cfg = load("");

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->log.level, LOG_LEVEL_INFO);
	ck_assert_str_eq(cfg->control.socket, "/run/acgw/control.sock");
	ck_assert_uint_eq(cfg->control.mode, 0660);
	ck_assert_ptr_null(cfg->control.group.name);
	ck_assert_uint_eq(cfg->control.readers.n, 0);
	ck_assert_uint_eq(cfg->control.max_line, 4096);
	ck_assert_uint_eq(cfg->control.max_response, 4u << 20);
	ck_assert_uint_eq(cfg->control.max_clients, 64);
	ck_assert_uint_eq(cfg->control.max_clients_per_uid, 8);
	ck_assert_uint_eq(cfg->control.idle_timeout_ms, 300000);
	ck_assert_uint_eq(cfg->daemon.watchdog_fraction, 3);
	ck_assert_uint_eq(cfg->daemon.stop_timeout_ms, 10000);
	ck_assert_ptr_null(cfg->r3.listen.text);
	ck_assert_int_eq(cfg->r3.allow_wildcard, 0);
	config_free(cfg);

	/* A comment-only file and empty sections are defaults too. */
	cfg = load("# nothing\n");
	ck_assert_ptr_nonnull(cfg);
	config_free(cfg);
	cfg = load("control:\nlog:\n");
	ck_assert_ptr_nonnull(cfg);
	config_free(cfg);
}
END_TEST

START_TEST(values)
{
	struct config *cfg = load(
	    "log:\n  level: debug\n"
	    "control:\n"
	    "  socket: /tmp/x.sock\n"
	    "  mode: \"0640\"\n"
	    "  group: root\n"
	    "  readers: [root]\n"
	    "  operators:\n    - root\n"
	    "  max_line: 8KiB\n"
	    "  max_clients: 5\n"
	    "  idle_timeout: 1m30s\n"
	    "r3:\n  listen: \"[::]:8443\"\n  allow_wildcard: true\n"
	    "  cert: /etc/acgw/r3.pem\n  key: /etc/acgw/r3.key\n");

	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	ck_assert_int_eq(cfg->log.level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(cfg->control.socket, "/tmp/x.sock");
	ck_assert_uint_eq(cfg->control.mode, 0640);
	ck_assert_str_eq(cfg->control.group.name, "root");
	ck_assert_uint_eq(cfg->control.group.gid, 0);
	ck_assert_uint_eq(cfg->control.readers.n, 1);
	ck_assert_uint_eq(cfg->control.operators.n, 1);
	ck_assert_int_eq(config_grouplist_has(&cfg->control.operators, 0), 1);
	ck_assert_int_eq(config_grouplist_has(&cfg->control.operators, 5), 0);
	ck_assert_uint_eq(cfg->control.max_line, 8192);
	ck_assert_uint_eq(cfg->control.max_clients, 5);
	ck_assert_uint_eq(cfg->control.idle_timeout_ms, 90000);
	ck_assert_str_eq(cfg->r3.listen.text, "[::]:8443");
	ck_assert_int_eq(cfg->r3.listen.sa.wildcard, 1);
	config_free(cfg);
}
END_TEST

START_TEST(unknown_keys)
{
	refused("control:\n  sockt: /x\n",
	    "acgwd.yaml:2:3: control.sockt: unknown key (did you mean "
	    "control.socket?)");
	refused("contrl:\n  socket: /x\n",
	    "acgwd.yaml:1:1: contrl: unknown key (did you mean control?)");
	refused("control:\n  frobnicate: 1\n",
	    "acgwd.yaml:2:3: control.frobnicate: unknown key");
	refused("control:\n  socket.x: 1\n",
	    "acgwd.yaml:2:3: control.socket.x: unknown key");
}
END_TEST

START_TEST(duplicate_keys)
{
	refused("log:\n  level: info\n  level: debug\n",
	    "acgwd.yaml:3:3: log.level: duplicate key (first set at line 2)");
	refused("log:\n  level: info\nlog:\n  level: info\n",
	    "acgwd.yaml:3:1: log: duplicate key (first set at line 1)");
}
END_TEST

START_TEST(wrong_types)
{
	refused("control:\n  socket: [a, b]\n",
	    "acgwd.yaml:2:11: control.socket: expected a path, found a list");
	refused("control:\n  max_clients:\n    a: 1\n",
	    "acgwd.yaml:3:5: control.max_clients: expected a integer, found a "
	    "mapping");
	refused("control: 5\n",
	    "acgwd.yaml:1:10: control: expected a mapping, found a scalar");
	refused("- a\n- b\n",
	    "acgwd.yaml:1:1: (top level): expected a mapping of sections, "
	    "found a list");
	refused("control:\n  readers: acgw\n",
	    "acgwd.yaml:2:12: control.readers: expected a list of group names, "
	    "found a scalar");
	refused("control:\n  readers: [[a]]\n",
	    "acgwd.yaml:2:13: control.readers[0]: expected a group name, found "
	    "a list");
	refused("r3:\n  allow_wildcard: yes\n",
	    "acgwd.yaml:2:19: r3.allow_wildcard: \"yes\" is not a boolean "
	    "(write true or false)");
	refused("control:\n  max_clients: ten\n",
	    "acgwd.yaml:2:16: control.max_clients: \"ten\" is not an unsigned "
	    "integer");
	refused("log:\n  level: loud\n",
	    "acgwd.yaml:2:10: log.level: \"loud\" is not a log level (error, "
	    "warning, notice, info, debug)");
	refused("control:\n  socket: run/x.sock\n",
	    "acgwd.yaml:2:11: control.socket: \"run/x.sock\" is not an absolute "
	    "path");
	refused("control:\n  socket:\n",
	    "acgwd.yaml:2:10: control.socket: must not be empty");
	refused("control:\n  mode: \"0680\"\n",
	    "acgwd.yaml:2:9: control.mode: \"0680\" is not a file mode (write "
	    "octal, e.g. \"0660\")");
	refused("control:\n  group: no-such-group-acgw\n",
	    "acgwd.yaml:2:10: control.group: group \"no-such-group-acgw\" does "
	    "not exist");
	refused("control:\n  operators: [root, no-such-group-acgw]\n",
	    "acgwd.yaml:2:21: control.operators[1]: group "
	    "\"no-such-group-acgw\" does not exist");
	refused("r3:\n  listen: localhost:8443\n",
	    "acgwd.yaml:2:11: r3.listen: \"localhost:8443\" has an invalid IPv4 "
	    "address (numeric only, no host names)");
	refused("? [a]\n: b\n",
	    "acgwd.yaml:1:3: (top level): keys must be plain names, found a "
	    "list");
}
END_TEST

START_TEST(out_of_range)
{
	refused("control:\n  max_line: 1MiB\n",
	    "acgwd.yaml:2:13: control.max_line: \"1MiB\" is out of range "
	    "(256B..64KiB)");
	refused("control:\n  max_clients: 0\n",
	    "acgwd.yaml:2:16: control.max_clients: 0 is out of range (1..4096)");
	refused("control:\n  idle_timeout: 10ms\n",
	    "acgwd.yaml:2:17: control.idle_timeout: \"10ms\" is out of range "
	    "(1s..1d)");
	refused("daemon:\n  watchdog_fraction: 1\n",
	    "acgwd.yaml:2:22: daemon.watchdog_fraction: 1 is out of range "
	    "(2..10)");
	refused("control:\n  max_clients: 99999999999999999999\n",
	    "acgwd.yaml:2:16: control.max_clients: \"99999999999999999999\" is "
	    "too large");
}
END_TEST

START_TEST(cross_checks)
{
	refused("r3:\n  listen: \"0.0.0.0:8443\"\n",
	    "acgwd.yaml:2:11: r3.listen: \"0.0.0.0:8443\" is a wildcard address; "
	    "set r3.allow_wildcard: true to permit it");
	/* The position is the value's, wherever it stands. */
	refused("r3:\n  listen:\n    \"0.0.0.0:8443\"\n",
	    "acgwd.yaml:3:5: r3.listen: \"0.0.0.0:8443\" is a wildcard address; "
	    "set r3.allow_wildcard: true to permit it");
	refused("r3:\n  listen: \"[::]:8443\"\n  allow_wildcard: false\n",
	    "acgwd.yaml:2:11: r3.listen: \"[::]:8443\" is a wildcard address; "
	    "set r3.allow_wildcard: true to permit it");
	refused("control:\n  mode: \"0666\"\n",
	    "acgwd.yaml:2:9: control.mode: 0666 gives every local user access; "
	    "use control.group and control.readers instead");
	refused("control:\n  socket: /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaa.sock\n",
	    "acgwd.yaml:2:11: control.socket: \"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaa.sock\" is too long for a UNIX socket path "
	    "(at most 107 bytes)");
}
END_TEST

START_TEST(unsupported_sections)
{
	refused("policy:\n  enabled: true\n",
	    "acgwd.yaml:2:12: policy.enabled: is set, so policy.assessor_ca is "
	    "required too");
	refused("policy:\n  failure_action: warn\n",
	    "acgwd.yaml:2:19: policy.failure_action: warn keeps non-compliant "
	    "peers connected; it is for test setups only and needs "
	    "policy.allow_warn: true");
	refused("policy:\n  required_a: [a, a]\n",
	    "acgwd.yaml:2:19: policy.required_a[1]: \"a\" is listed twice");
	refused("audit:\n  dir: relative\n",
	    "acgwd.yaml:2:8: audit.dir: \"relative\" is not an absolute path");
}
END_TEST


#define PIN1 "d80b31e1d7cee2d40a092c900727d9e2ec785f53b28d388507f46e018a88b5f2"
#define PIN2 "2434E2F2:D311D508FF35E44538919C610BAFED8D4AD12BC2C58CAD21E1FFBFFF"

START_TEST(dispatch_section)
{
	struct config *cfg = load("");

	/* Defaults. */
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->dispatch.state_dir, "/var/lib/acgw/state");
	ck_assert_int_eq(cfg->dispatch.rule, 0);
	ck_assert_uint_eq(cfg->dispatch.capacity_w, 0);
	ck_assert_uint_eq(cfg->dispatch.signals.n, 1);
	ck_assert_str_eq(cfg->dispatch.signals.v[0], "LOAD_DISPATCH/setpoint");
	ck_assert_uint_eq(cfg->dispatch.coverage_threshold, 100);
	ck_assert_uint_eq(cfg->dispatch.ack_deadline_ms, 60000);
	config_free(cfg);

	cfg = load("dispatch:\n  rule: static\n  capacity: 1.5MW\n"
	    "  signals: [LOAD_DISPATCH/setpoint, SIMPLE/level]\n"
	    "peers:\n"
	    "  - {name: a, ca: /a, pins: [\"" PIN1 "\"], sources: [10.0.0.0/8],"
	    " contracted: 800kW, share: 60, ven_id: VEN-A}\n"
	    "  - {name: b, ca: /a, pins: [\"" PIN2 "\"], sources: [10.0.0.0/8],"
	    " contracted: 700kW, share: 40}\n");
	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	ck_assert_int_eq(cfg->dispatch.rule, 2);
	ck_assert_uint_eq(cfg->dispatch.capacity_w, 1500000);
	ck_assert_uint_eq(cfg->dispatch.signals.n, 2);
	ck_assert_str_eq(cfg->dispatch.signals.v[1], "SIMPLE/level");
	ck_assert_uint_eq(cfg->peers.v[0].contracted_w, 800000);
	ck_assert_str_eq(cfg->peers.v[0].ven_id, "VEN-A");
	ck_assert_ptr_null(cfg->peers.v[1].ven_id);
	ck_assert_uint_eq(cfg->peers.v[1].share, 40);
	config_free(cfg);

	refused("dispatch:\n  capacity: 12\n",
	    "acgwd.yaml:2:13: dispatch.capacity: \"12\" needs a unit: W, kW, "
	    "MW or GW");
	refused("dispatch:\n  capacity: 1.5W\n",
	    "acgwd.yaml:2:13: dispatch.capacity: \"1.5W\" is not a whole "
	    "number of watts");
	refused("dispatch:\n  signals: [LOAD_DISPATCH]\n",
	    "acgwd.yaml:2:13: dispatch.signals[0]: \"LOAD_DISPATCH\" is not a "
	    "signal (write NAME/type, e.g. LOAD_DISPATCH/setpoint)");
	refused("dispatch:\n  signals: [LOAD_DISPATCH/watts]\n",
	    "acgwd.yaml:2:13: dispatch.signals[0]: \"LOAD_DISPATCH/watts\": "
	    "\"watts\" is not a 2.0b signalType (delta, level, multiplier, "
	    "price, priceMultiplier, priceRelative, setpoint, "
	    "x-loadControlCapacity, x-loadControlLevelOffset, "
	    "x-loadControlPercentOffset, x-loadControlSetpoint)");
	refused("dispatch:\n  signals: [A/level, A/level]\n",
	    "acgwd.yaml:2:22: dispatch.signals[1]: \"A/level\" is listed twice");
	refused("dispatch:\n  signals: []\n",
	    "acgwd.yaml:2:12: dispatch.signals: needs 1 to 64 items, found 0");
	refused("dispatch:\n  coverage_threshold: 0\n",
	    "acgwd.yaml:2:23: dispatch.coverage_threshold: 0 is out of range "
	    "(1..100)");
	refused("dispatch:\n  rule: fair\n",
	    "acgwd.yaml:2:9: dispatch.rule: \"fair\" is not one of "
	    "proportional|priority|static");
	refused("dispatch:\n  min_duration: 2h\n  max_duration: 1h\n",
	    "acgwd.yaml:2:17: dispatch.min_duration: must not be longer than "
	    "dispatch.max_duration");
	refused("dispatch:\n  rule: static\n"
	    "peers:\n"
	    "  - {name: a, ca: /a, pins: [\"" PIN1 "\"], sources: [10.0.0.0/8],"
	    " share: 60}\n"
	    "  - {name: b, ca: /a, pins: [\"" PIN2 "\"], sources: [10.0.0.0/8],"
	    " share: 30}\n",
	    "acgwd.yaml:2:9: dispatch.rule: static: peers[].share must add up "
	    "to 100, they add up to 90");
	refused("peers:\n"
	    "  - {name: a, ca: /a, pins: [\"" PIN1 "\"], sources: [10.0.0.0/8],"
	    " ven_id: b}\n"
	    "  - {name: b, ca: /a, pins: [\"" PIN2 "\"], sources: [10.0.0.0/8]}\n",
	    "acgwd.yaml:3:5: peers: [1]: venID \"b\" is already that of "
	    "peers[0]");
	refused("peers:\n"
	    "  - {name: a, ca: /a, pins: [\"" PIN1 "\"], sources: [10.0.0.0/8],"
	    " contracted: -1kW}\n",
	    "acgwd.yaml:2:134: peers[0].contracted: \"-1kW\" is not a power "
	    "(e.g. 800W, 1500kW, 1.5MW)");
}
END_TEST

START_TEST(peers_list)
{
	struct config *cfg = load("peers:\n"
	    "  - name: ra1\n    ca: /etc/acgw/ca.pem\n"
	    "    pins: [\"" PIN1 "\"]\n    sources: [127.0.0.0/8, \"::1\"]\n"
	    "  - name: ra-2.b_c\n    ca: /etc/acgw/ca.pem\n"
	    "    crl: /etc/acgw/ca.crl\n    max_sessions: 9\n"
	    "    pins:\n      - \"" PIN2 "\"\n    sources: [10.0.0.0/8]\n");

	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	ck_assert_uint_eq(cfg->peers.n, 2);
	ck_assert_str_eq(cfg->peers.v[0].name, "ra1");
	ck_assert_ptr_null(cfg->peers.v[0].crl);
	ck_assert_uint_eq(cfg->peers.v[0].max_sessions, 4);	/* default */
	ck_assert_uint_eq(cfg->peers.v[0].pins.n, 1);
	ck_assert_uint_eq(cfg->peers.v[0].pins.v[0][0], 0xd8);
	ck_assert_uint_eq(cfg->peers.v[0].sources.n, 2);
	ck_assert_uint_eq(cfg->peers.v[0].sources.v[1].prefix, 128);
	ck_assert_uint_eq(cfg->peers.v[0].line, 2);
	ck_assert_uint_eq(cfg->peers.v[0].col, 5);
	ck_assert_str_eq(cfg->peers.v[1].crl, "/etc/acgw/ca.crl");
	ck_assert_uint_eq(cfg->peers.v[1].max_sessions, 9);
	ck_assert_uint_eq(cfg->peers.v[1].pins.v[0][0], 0x24);
	ck_assert_uint_eq(cfg->peers.v[1].pins.v[0][31], 0xff);
	ck_assert_ptr_nonnull(config_peer_find(cfg, "ra-2.b_c"));
	ck_assert_ptr_null(config_peer_find(cfg, "ra3"));
	config_free(cfg);
}
END_TEST

START_TEST(peers_errors)
{
	refused("peers:\n  - name: ra1\n",
	    "acgwd.yaml:2:5: peers[0]: missing required key \"ca\"");
	refused("peers:\n  - name: ra1\n    ca: /x\n    pinz: []\n",
	    "acgwd.yaml:4:5: peers[0].pinz: unknown key (did you mean "
	    "peers[0].pins?)");
	refused("peers:\n  - name: \"ra 1\"\n",
	    "acgwd.yaml:2:11: peers[0].name: \"ra 1\" is not a name (1 to 64 "
	    "of A-Z a-z 0-9 . _ -)");
	refused("peers:\n  - name: a\n    name: b\n",
	    "acgwd.yaml:3:5: peers[0].name: duplicate key (first set at line 2)");
	refused("peers: {}\n",
	    "acgwd.yaml:1:8: peers: expected a list of mappings, found a "
	    "mapping");
	refused("peers:\n  - ra1\n",
	    "acgwd.yaml:2:5: peers[0]: expected a mapping, found a scalar");
	refused("peers:\n  - {name: a, ca: /x, pins: [abc], sources: []}\n",
	    "acgwd.yaml:2:30: peers[0].pins[0]: \"abc\" is not a SHA-256 pin "
	    "(64 hex digits)");
	refused("peers:\n  - {name: a, ca: /x, pins: [], sources: []}\n",
	    "acgwd.yaml:2:29: peers[0].pins: needs 1 to 64 items, found 0");
	refused("peers:\n  - {name: a, ca: /x, pins: [\"" PIN1 "\", \"" PIN1
	    "\"], sources: [10.1.0.0/8]}\n",
	    "acgwd.yaml:2:98: peers[0].pins[1]: \"" PIN1 "\" is listed "
	    "twice");
	refused("peers:\n  - {name: a, ca: /x, pins: [\"" PIN1 "\"], "
	    "sources: [10.1.0.0/8]}\n",
	    "acgwd.yaml:2:109: peers[0].sources[0]: \"10.1.0.0/8\" has host "
	    "bits set beyond /8");
	refused("peers:\n  - {name: a, ca: /x, pins: [\"" PIN1 "\"], "
	    "sources: [10.0.0.0/33]}\n",
	    "acgwd.yaml:2:109: peers[0].sources[0]: \"10.0.0.0/33\" has an "
	    "invalid prefix length (0-32)");
	refused("peers:\n"
	    "  - {name: a, ca: /x, pins: [\"" PIN1 "\"], sources: [\"::1/128\"]}\n"
	    "  - {name: a, ca: /x, pins: [\"" PIN2 "\"], sources: [\"::1/128\"]}\n",
	    "acgwd.yaml:3:5: peers: [1]: name \"a\" is already used by "
	    "peers[0]");
	refused("peers:\n"
	    "  - {name: a, ca: /x, pins: [\"" PIN1 "\"], sources: [\"::1/128\"]}\n"
	    "  - {name: b, ca: /x, pins: [\"" PIN1 "\"], sources: [\"::1/128\"]}\n",
	    "acgwd.yaml:3:5: peers: [1]: pins[0] is also a pin of peers[0] "
	    "(\"a\"); a key identifies one peer");
}
END_TEST

START_TEST(tls_r1_r3)
{
	struct config *cfg = load("tls:\n  min_version: \"1.3\"\n"
	    "r1:\n  url: https://[::1]:9443/vtn/\n  ca: /c\n  cert: /c\n"
	    "  key: /k\n  source_address: 192.0.2.7\n  interface: eth1\n"
	    "  pin: \"" PIN1 "\"\n"
	    "r3:\n  listen: \"127.0.0.1:8443\"\n  cert: /c\n  key: /k\n");

	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	ck_assert_int_eq(cfg->tls.min_version, CONFIG_TLS_1_3);
	ck_assert_str_eq(cfg->r1.url.host, "::1");
	ck_assert_uint_eq(cfg->r1.url.port, 9443);
	ck_assert_str_eq(cfg->r1.url.path, "/vtn");
	ck_assert_int_eq(cfg->r1.pin.set, 1);
	ck_assert_str_eq(cfg->r1.interface, "eth1");
	ck_assert_str_eq(cfg->r1.source_address.text, "192.0.2.7");
	ck_assert_uint_eq(cfg->r3.max_body_size, 1024 * 1024);
	ck_assert_uint_eq(cfg->r3.handshake_timeout_ms, 10000);
	config_free(cfg);

	cfg = load("r1:\n  url: https://tso.example\n  ca: /c\n  cert: /c\n"
	    "  key: /k\n");
	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	ck_assert_str_eq(cfg->r1.url.host, "tso.example");
	ck_assert_uint_eq(cfg->r1.url.port, 443);
	ck_assert_str_eq(cfg->r1.url.path, "");
	config_free(cfg);

	refused("tls:\n  min_version: \"1.1\"\n",
	    "acgwd.yaml:2:16: tls.min_version: \"1.1\" is not one of 1.2|1.3");
	refused("tls:\n  ciphers: \"NOPE-CIPHER\"\n",
	    "acgwd.yaml:2:12: tls.ciphers: OpenSSL knows none of the TLS 1.2 "
	    "ciphers in \"NOPE-CIPHER\"");
	refused("tls:\n  expiry_warning: 7d\n  expiry_critical: 30d\n",
	    "acgwd.yaml:3:20: tls.expiry_critical: must not be longer than "
	    "tls.expiry_warning");
	refused("r1:\n  url: http://x\n",
	    "acgwd.yaml:2:8: r1.url: \"http://x\" is not an https:// URL");
	refused("r1:\n  url: https://x:0\n",
	    "acgwd.yaml:2:8: r1.url: \"https://x:0\" has an invalid port "
	    "(1-65535)");
	refused("r1:\n  url: https://x\n  ca: /c\n",
	    "acgwd.yaml:2:8: r1.url: is set, so r1.cert is required too");
	refused("r1:\n  source_address: 192.0.2.300\n",
	    "acgwd.yaml:2:19: r1.source_address: \"192.0.2.300\" is not a "
	    "numeric IPv4 or IPv6 address");
	refused("r3:\n  listen: \"127.0.0.1:8443\"\n",
	    "acgwd.yaml:2:11: r3.listen: is set, so r3.cert is required too");
	refused("r3:\n  requests_per_second: 50\n  request_burst: 10\n",
	    "acgwd.yaml:3:18: r3.request_burst: must be at least "
	    "r3.requests_per_second");
}
END_TEST

START_TEST(syntax)
{
	refused("a: [\n",
	    "acgwd.yaml:2:1: YAML syntax error: while parsing a flow node did "
	    "not find expected node content");
	refused("log:\n  level: info\n bad\n",
	    "acgwd.yaml:3:2: YAML syntax error: while parsing a block mapping "
	    "did not find expected key");
	refused("log: &a\n  level: info\ncontrol: *a\n",
	    "acgwd.yaml:3:10: YAML aliases (*a) are not supported");
	refused("log:\n  level: info\n---\nlog:\n  level: info\n",
	    "acgwd.yaml:3:1: only one YAML document is allowed");
	{
		static const char nul[] = "log:\n  level: info\0\n";
		struct config *cfg = config_load_buffer("acgwd.yaml", nul,
		    sizeof(nul) - 1, &errs);
		ck_assert_ptr_null(cfg);
		ck_assert_str_eq(errs.msg[0],
		    "acgwd.yaml: file contains a NUL byte");
	}
	refused("log:\n  level: \xff\n",
	    "acgwd.yaml:2:10: invalid leading UTF-8 octet (byte 0xff at offset "
	    "14)");
	refused("log:\n  level: \"\\xe9\"\n",
	    "acgwd.yaml:2:10: log.level: \"\xc3\xa9\" is not a log level "
	    "(error, warning, notice, info, debug)");
}
END_TEST

START_TEST(depth_limit)
{
	char buf[200];
	size_t n = 0;

	for (int i = 0; i < 40; i++)
		buf[n++] = '[';
	buf[n] = '\0';
	refused(buf, "acgwd.yaml:1:34: nesting deeper than 32 levels");
}
END_TEST

START_TEST(every_error_reported)
{
	struct config *cfg = load("log:\n  level: loud\ncontrol:\n  sockt: /x\n"
	    "  max_clients: 0\npolicy: {reevaluate: 1y}\n");

	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(errs.count, 4);
	ck_assert_str_eq(errs.msg[3], "acgwd.yaml:6:22: policy.reevaluate: "
	    "\"1y\" needs a unit after each number (ms, s, m, h, d)");
}
END_TEST

START_TEST(files)
{
	char *dir = tl_tmpdir();
	char *p = tl_path(dir, "acgwd.yaml");
	struct config *cfg;
	char *missing = tl_path(dir, "missing.yaml");
	char *msg;

	cfg = config_load(missing, &errs);
	ck_assert_ptr_null(cfg);
	ck_assert(asprintf(&msg, "%s: cannot open: No such file or directory",
	    missing) > 0);
	ck_assert_str_eq(errs.msg[0], msg);
	free(msg);

	cfg = config_load(dir, &errs);
	ck_assert_ptr_null(cfg);
	ck_assert(asprintf(&msg, "%s: not a regular file", dir) > 0);
	ck_assert_str_eq(errs.msg[0], msg);
	free(msg);

	tl_write(p, "log:\n  level: warning\n");
	cfg = config_load(p, &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->log.level, LOG_LEVEL_WARNING);
	ck_assert_str_eq(cfg->path, p);
	config_free(cfg);

	{
		FILE *f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		for (int i = 0; i < CONFIG_FILE_MAX / 10 + 1; i++)
			fputs("# padding\n", f);
		fclose(f);
	}
	cfg = config_load(p, &errs);
	ck_assert_ptr_null(cfg);
	ck_assert(asprintf(&msg, "%s: larger than 16777216 bytes", p) > 0);
	ck_assert_str_eq(errs.msg[0], msg);
	free(msg);

	tl_rmrf(dir);
	free(p);
	free(missing);
	free(dir);
}
END_TEST

START_TEST(sha256_of_file)
{
	struct config *cfg = load("log:\n  level: info\n");
	/* printf 'log:\n  level: info\n' | sha256sum */
	static const unsigned char want[4] = { 0x6f, 0x66, 0xb0, 0xa7 };

	ck_assert_ptr_nonnull(cfg);
	ck_assert_msg(memcmp(cfg->sha256, want, 4) == 0,
	    "sha256 starts %02x%02x%02x%02x", cfg->sha256[0], cfg->sha256[1],
	    cfg->sha256[2], cfg->sha256[3]);
	config_free(cfg);
}
END_TEST

/*
 * Every key in the table is documented in acgwd.yaml(5) as
 * ".TP / .B key.path / .RI ( type ) ... Default: \fBvalue\fR."
 */
START_TEST(man_page_documents_every_key)
{
	char *path, *man;
	const struct config_key *keys;
	size_t n;

	ck_assert(asprintf(&path, "%s/man/acgwd.yaml.5",
	    tl_env("ACGW_SRCDIR")) > 0);
	man = tl_read(path);
	ck_assert_msg(man[0] != '\0', "cannot read %s", path);
	keys = config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &keys[i];
		char *head, *type, *def, *entry, *end;

		ck_assert(asprintf(&head, "\n.TP\n.B %s\n", k->path) > 0);
		entry = strstr(man, head);
		ck_assert_msg(entry != NULL, "%s: no \".TP/.B %s\" entry in "
		    "acgwd.yaml.5", k->path, k->path);
		entry += strlen(head);
		end = strstr(entry, "\n.TP\n");
		if (end == NULL || (strstr(entry, "\n.SH") != NULL &&
		    strstr(entry, "\n.SH") < end))
			end = strstr(entry, "\n.SH");
		ck_assert_ptr_nonnull(end);
		*end = '\0';
		if (k->unsupported != NULL) {
			ck_assert_msg(strstr(entry, "Not supported yet") != NULL,
			    "%s: man page does not say it is not supported yet",
			    k->path);
		} else if (k->type != CONFIG_SECTION) {
			ck_assert(asprintf(&type, ".RI ( \"%s\" )",
			    config_type_name(k->type)) > 0);
			if (strchr(config_type_name(k->type), ' ') == NULL) {
				free(type);
				ck_assert(asprintf(&type, ".RI ( %s )",
				    config_type_name(k->type)) > 0);
			}
			ck_assert_msg(strncmp(entry, type, strlen(type)) == 0,
			    "%s: type line should be %s", k->path, type);
			/*
			 * A default under the installation's data directory
			 * is written as the page says it: PKGDATADIR/...
			 */
			if (k->def != NULL && strncmp(k->def, PKGDATADIR,
			    strlen(PKGDATADIR)) == 0)
				ck_assert(asprintf(&def, "Default: \\fBPKGDATADIR%s"
				    "\\fR.", k->def + strlen(PKGDATADIR)) > 0);
			else if (k->def != NULL)
				ck_assert(asprintf(&def, "Default: \\fB%s\\fR.",
				    k->def) > 0);
			else
				def = strdup("Default: none");
			ck_assert_msg(strstr(entry, def) != NULL,
			    "%s: man page lacks \"%s\"", k->path, def);
			free(type);
			free(def);
		}
		*end = '\n';
		free(head);
	}
	free(man);
	free(path);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tl_tcase(s, "core", 0);

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, values);
	tcase_add_test(tc, unknown_keys);
	tcase_add_test(tc, duplicate_keys);
	tcase_add_test(tc, wrong_types);
	tcase_add_test(tc, out_of_range);
	tcase_add_test(tc, cross_checks);
	tcase_add_test(tc, unsupported_sections);
	tcase_add_test(tc, dispatch_section);
	tcase_add_test(tc, peers_list);
	tcase_add_test(tc, peers_errors);
	tcase_add_test(tc, tls_r1_r3);
	tcase_add_test(tc, syntax);
	tcase_add_test(tc, depth_limit);
	tcase_add_test(tc, every_error_reported);
	tcase_add_test(tc, files);
	tcase_add_test(tc, sha256_of_file);
	tcase_add_test(tc, man_page_documents_every_key);
	return tl_run_suite(s);
}
