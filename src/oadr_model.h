/*
 * oadr_model — the OpenADR 2.0b schema as acgw keeps it: one table per
 * complex type, one row per child element, in schema order. The parser,
 * the builder, free and equality in oadr.c walk these tables; nothing
 * else knows the element names. Internal to the oadr module.
 */
#ifndef ACGW_OADR_MODEL_H
#define ACGW_OADR_MODEL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

enum oadr_ns {
	OADR_NS_OADR = 0,
	OADR_NS_EI,
	OADR_NS_PYLD,
	OADR_NS_EMIX,
	OADR_NS_XCAL,
	OADR_NS_STRM,
	OADR_NS_POWER,
	OADR_NS_SCALE,
	OADR_NS_DS,
	OADR_NS_COUNT
};

/* Namespace URI and the prefix the builder writes. */
struct oadr_ns_info {
	const char *uri;
	const char *prefix;
};
extern const struct oadr_ns_info oadr_ns_table[OADR_NS_COUNT];

enum oadr_kind {
	OADR_K_STR,	/* xs:string, kept verbatim */
	OADR_K_TOKEN,	/* xs:token and token unions, whitespace trimmed */
	OADR_K_UINT,	/* xs:unsignedInt -> uint32_t */
	OADR_K_PCT,	/* ei:ConfidenceType, 0..100 -> unsigned */
	OADR_K_CODE,	/* ei:ResponseCodeType, three digits -> unsigned */
	OADR_K_FLOAT,	/* xs:float -> double, finite */
	OADR_K_DECIMAL,	/* xs:decimal (no exponent) -> double, finite */
	OADR_K_BOOL,	/* xs:boolean -> int */
	OADR_K_TIME,	/* xcal:DateTimeType -> int64_t microseconds UTC */
	OADR_K_DUR,	/* xcal:DurationValueType -> int64_t microseconds */
	OADR_K_ENUM,	/* fixed token list -> int index */
	OADR_K_SUB,	/* complex type: embedded struct */
	OADR_K_SKIP,	/* allowed, content not kept */
};

enum oadr_limit_kind {
	OADR_L_NONE = 0,
	OADR_L_EVENTS,
	OADR_L_SIGNALS,
	OADR_L_INTERVALS,
	OADR_L_REPORTS,
};

#define OADR_NOAUX ((size_t)-1)
#define OADR_NOTAG LONG_MIN
#define OADR_ROWS_MAX 32	/* rows in one type; oadr.c keeps counts per row */

struct oadr_type;

struct oadr_field {
	const char *name;		/* local name */
	uint8_t ns;			/* enum oadr_ns */
	uint8_t kind;			/* enum oadr_kind */
	uint8_t limit;			/* enum oadr_limit_kind */
	uint8_t choice;			/* rows with the same nonzero id: one particle */
	uint8_t root;			/* a message element: error paths start here */
	uint32_t min, max;		/* occurrences; max 0: unbounded */
	size_t off;			/* value, embedded struct or array pointer */
	size_t aux;			/* array: size_t count; single: int has flag */
	long tag_rel;			/* choice: where the tag goes, from the target */
	int tag;			/* choice: the tag this alternative stores */
	size_t elem_size;		/* array element size */
	const struct oadr_type *sub;	/* OADR_K_SUB */
	const char *const *choices;	/* OADR_K_ENUM, NULL-terminated */
};

struct oadr_type {
	const char *name;		/* the schema type, for messages */
	size_t size;
	const struct oadr_field *f;
	size_t nf;
};

/* The document: oadrPayload, or any message as the root element. */
extern const struct oadr_type oadr_type_doc;
/* oadrPayload's content, which the builder starts from. */
extern const struct oadr_type oadr_type_payload;

extern const char *const oadr_event_status_names[];
extern const char *const oadr_signal_type_names[];

/* Element name and service endpoint of each enum oadr_msg_type. */
struct oadr_msg_info {
	const char *name;
	const char *service;
};
extern const struct oadr_msg_info oadr_msg_table[];

#endif
