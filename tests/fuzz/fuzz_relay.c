/*
 * libFuzzer target: the relay's handling of what peers send, after the
 * parser accepted it — an RA's request on R3 (as either of two
 * configured RAs, to any service) or the TSO's answer on R1 — with the
 * relay's state carried from input to input, so that sequences reach
 * registration, events, answers and reports. Properties: no crash, no
 * leak, and a reply exactly when the status is 200.
 *
 * The first byte picks who speaks (RA 1, RA 2, the TSO) and, for an RA,
 * the service; the rest is the document.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acgw/config.h"
#include "acgw/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct relay *relay;
static struct config *cfg;
static int64_t now = 1790000000LL * 1000000;

static void
setup(void)
{
	static const char pin1[] = "d80b31e1d7cee2d40a092c900727d9e2"
	    "ec785f53b28d388507f46e018a88b5f2";
	static const char pin2[] = "2434e2f2d311d508ff35e44538919c61"
	    "0bafed8d4ad12bc2c58cad21e1ffbfff";
	struct config_errors errs;
	char dir[64], yaml[1024], err[RELAY_ERR_MAX];

	/* tmpfs: the state is written on many inputs. */
	snprintf(dir, sizeof(dir), "/dev/shm/acgw-fuzz-relay.%ld",
	    (long)getpid());
	snprintf(yaml, sizeof(yaml),
	    "dispatch: {state_dir: %s, ack_deadline: 2s}\n"
	    "peers:\n"
	    "  - {name: ra1, ca: /x, pins: [\"%s\"], sources: [127.0.0.1/32],"
	    " contracted: 1000kW}\n"
	    "  - {name: ra2, ca: /x, pins: [\"%s\"], sources: [127.0.0.1/32],"
	    " contracted: 3000kW, ven_id: VEN-TWO}\n", dir, pin1, pin2);
	if ((cfg = config_load_buffer("fuzz.yaml", yaml, strlen(yaml),
	    &errs)) == NULL || (relay = relay_new(cfg, NULL, NULL, now, err,
	    sizeof(err))) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const services[] = { "EiRegisterParty", "EiEvent",
	    "EiReport", "EiOpt", "OadrPoll", "Unknown" };
	char *reply = NULL, err[RELAY_ERR_MAX];
	struct relay_undo *undo = NULL;
	size_t rlen = 0;
	int who, code;

	if (relay == NULL)
		setup();
	if (size < 1)
		return 0;
	who = data[0] % 3;
	now += 700000;		/* time moves on: deadlines, windows */
	if (who < 2) {
		code = relay_ra_request(relay, who == 0 ? "ra1" : "ra2",
		    services[(data[0] / 3) % 6], (const char *)data + 1,
		    size - 1, now, &reply, &rlen, &undo, err, sizeof(err));
		if ((code == 200) != (reply != NULL) ||
		    (code != 200 && err[0] == '\0'))
			__builtin_trap();
		/* Every other reply "fails to leave": its hand-over back. */
		if (data[0] & 0x40)
			relay_undo_apply(relay, undo);
		relay_undo_free(undo);
		free(reply);
	} else {
		const char *svc;
		char *doc = NULL;
		size_t len;
		uint64_t wait;

		if (relay_up_next(relay, now, &svc, &doc, &len, &wait))
			relay_up_answer(relay, now, 200, (const char *)data + 1,
			    size - 1);
		free(doc);
	}
	relay_tick(relay, now);
	return 0;
}
