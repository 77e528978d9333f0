/*
 * oadr — OpenADR 2.0b payloads: typed messages, a strict streaming parser
 * and a builder, on libxml2.
 *
 * One description of the 2.0b schema (oadr_model.c) drives parsing,
 * building and freeing, so what the parser accepts and what the builder
 * writes cannot drift apart. The parser is a SAX2 consumer: no DOM, no
 * DTD, no entities, no network; a DOCTYPE stops it at once. Every limit
 * comes from struct oadr_limits (config section "oadr"). Every rejection
 * names the element path and the reason, e.g.
 *
 *   oadrDistributeEvent/oadrEvent[2]/eiEvent/eventDescriptor/
 *   modificationNumber: "-1" is not an unsigned integer
 *
 * Times are microseconds since 1970-01-01T00:00:00Z (UTC); durations are
 * microseconds. Strings are NUL-terminated UTF-8, NULL when an optional
 * element is absent. "has_x" flags mark optional non-string values.
 * Elements the schema allows but acgw has no use for (assets, nodes and
 * service areas in targets, xcal:components, Green Button feeds, XML
 * signatures) are accepted, counted against the limits and not kept.
 */
#ifndef ACGW_OADR_H
#define ACGW_OADR_H

#include <stddef.h>
#include <stdint.h>

#define OADR_ERR_MAX 512

/* ---- limits ---------------------------------------------------------- */

struct oadr_limits {
	size_t max_payload;	/* bytes of one document */
	size_t max_depth;	/* element nesting */
	size_t max_elements;	/* elements in one document, skipped ones too */
	size_t max_events;	/* oadrEvent per oadrDistributeEvent */
	size_t max_signals;	/* eiEventSignal per event */
	size_t max_intervals;	/* ei:interval per intervals list */
	size_t max_reports;	/* reports, report requests, descriptions */
	int64_t max_duration;	/* longest accepted duration, microseconds */
};

/* The defaults the config table documents (acgwd.yaml(5), section oadr). */
void oadr_limits_default(struct oadr_limits *l);

/* ---- shared pieces --------------------------------------------------- */

struct oadr_strlist {
	char **v;
	size_t n;
};

/* ei:eiResponse */
struct oadr_response {
	unsigned code;		/* responseCode: three digits, 200 = OK */
	char *description;	/* optional */
	char *request_id;	/* required, often empty */
};

/* ei:eiTarget and the other EiTargetType elements. */
struct oadr_target {
	struct oadr_strlist group_ids;
	struct oadr_strlist group_names;
	struct oadr_strlist resource_ids;
	struct oadr_strlist ven_ids;
	struct oadr_strlist party_ids;
};

enum oadr_item_kind {
	OADR_ITEM_NONE = 0,
	OADR_ITEM_POWER_REAL,
	OADR_ITEM_POWER_APPARENT,
	OADR_ITEM_POWER_REACTIVE,
	OADR_ITEM_ENERGY_REAL,
	OADR_ITEM_ENERGY_APPARENT,
	OADR_ITEM_ENERGY_REACTIVE,
	OADR_ITEM_VOLTAGE,
	OADR_ITEM_CURRENT,
	OADR_ITEM_FREQUENCY,
	OADR_ITEM_CURRENCY,
	OADR_ITEM_CURRENCY_PER_KWH,
	OADR_ITEM_CURRENCY_PER_KW,
	OADR_ITEM_CURRENCY_PER_THM,
	OADR_ITEM_THERM,
	OADR_ITEM_TEMPERATURE,
	OADR_ITEM_PULSE_COUNT,
	OADR_ITEM_CUSTOM_UNIT,
	OADR_ITEM_GREEN_BUTTON,	/* oadrGBDataDescription: content not kept */
};

/* An emix:itemBase substitute (powerReal, energyReal, currency, ...). */
struct oadr_item {
	int kind;			/* enum oadr_item_kind */
	char *description;		/* itemDescription, e.g. "RealPower" */
	char *units;			/* itemUnits, e.g. "W" */
	char *si_scale;			/* siScaleCode, e.g. "k" (not pulseCount) */
	double pulse_factor;		/* pulseCount only */
	double hertz;			/* powerAttributes: power* items only */
	double voltage;
	int ac;
};

enum oadr_payload_kind {
	OADR_PAYLOAD_FLOAT = 1,		/* ei:payloadFloat */
	OADR_PAYLOAD_STATUS,		/* oadr:oadrPayloadResourceStatus */
};

/* oadrLoadControlStateTypeType */
struct oadr_load_value {
	int has_min, has_max, has_normal;
	double min, max, current, normal;
};

struct oadr_resource_status {
	int online;
	int manual_override;
	int has_load_control;
	int has_capacity, has_level_offset, has_percent_offset, has_set_point;
	struct oadr_load_value capacity, level_offset, percent_offset,
	    set_point;
};

/* An ei:payloadBase substitute. */
struct oadr_value {
	int kind;			/* enum oadr_payload_kind */
	double value;			/* OADR_PAYLOAD_FLOAT */
	struct oadr_resource_status status;	/* OADR_PAYLOAD_STATUS */
};

enum oadr_stream_kind {
	OADR_STREAM_SIGNAL = 1,		/* ei:signalPayload */
	OADR_STREAM_REPORT,		/* oadr:oadrReportPayload */
	OADR_STREAM_GREEN_BUTTON,	/* oadr:oadrGBPayload: content not kept */
};

/* A strm:streamPayloadBase substitute inside an interval. */
struct oadr_stream_payload {
	int kind;			/* enum oadr_stream_kind */
	char *rid;			/* report payloads */
	int has_confidence;
	unsigned confidence;		/* 0..100 */
	int has_accuracy;
	double accuracy;
	struct oadr_value value;
	char *data_quality;		/* oadrDataQuality, optional */
};

/* ei:interval */
struct oadr_interval {
	int has_dtstart;
	int64_t dtstart;
	int has_duration;
	int64_t duration;
	char *uid;			/* xcal:uid/xcal:text, "0", "1", ... */
	struct oadr_stream_payload *payloads;
	size_t n_payloads;
};

struct oadr_intervals {
	struct oadr_interval *v;
	size_t n;
};

/* xcal:properties (active period, report interval, availability). */
struct oadr_properties {
	int64_t dtstart;
	int64_t duration;
	int has_tolerance;
	int has_start_after;		/* tolerance/tolerate/startafter */
	int64_t start_after;
	int has_notification;		/* x-eiNotification */
	int64_t notification;
	int has_ramp_up;		/* x-eiRampUp */
	int64_t ramp_up;
	int has_recovery;		/* x-eiRecovery */
	int64_t recovery;
};

/* ---- events ---------------------------------------------------------- */

enum oadr_event_status {
	OADR_STATUS_NONE = 0,
	OADR_STATUS_FAR,
	OADR_STATUS_NEAR,
	OADR_STATUS_ACTIVE,
	OADR_STATUS_COMPLETED,
	OADR_STATUS_CANCELLED,
};

enum oadr_signal_type {
	OADR_SIGNAL_DELTA = 0,
	OADR_SIGNAL_LEVEL,
	OADR_SIGNAL_MULTIPLIER,
	OADR_SIGNAL_PRICE,
	OADR_SIGNAL_PRICE_MULTIPLIER,
	OADR_SIGNAL_PRICE_RELATIVE,
	OADR_SIGNAL_SETPOINT,
	OADR_SIGNAL_X_LOAD_CONTROL_CAPACITY,
	OADR_SIGNAL_X_LOAD_CONTROL_LEVEL_OFFSET,
	OADR_SIGNAL_X_LOAD_CONTROL_PERCENT_OFFSET,
	OADR_SIGNAL_X_LOAD_CONTROL_SETPOINT,
};

enum oadr_response_required {
	OADR_RESPONSE_ALWAYS = 0,
	OADR_RESPONSE_NEVER,
};

enum oadr_opt_type {
	OADR_OPT_IN = 0,
	OADR_OPT_OUT,
};

struct oadr_event_descriptor {
	char *event_id;
	uint32_t modification_number;
	int has_modification_time;
	int64_t modification_time;
	char *modification_reason;
	int has_priority;
	uint32_t priority;
	char *market_context;		/* eiMarketContext/marketContext */
	int64_t created;		/* createdDateTime */
	int status;			/* enum oadr_event_status */
	char *test_event;		/* "false", "true" or other text */
	char *vtn_comment;
};

struct oadr_signal {
	struct oadr_intervals intervals;
	int has_target;
	struct oadr_target target;
	char *name;			/* signalName, e.g. "SIMPLE" */
	int type;			/* enum oadr_signal_type */
	char *id;			/* signalID */
	int has_item;
	struct oadr_item item;
	int has_current_value;
	double current_value;		/* currentValue/payloadFloat/value */
};

struct oadr_baseline {
	int64_t dtstart;
	int64_t duration;
	struct oadr_intervals intervals;
	char *id;
	struct oadr_strlist resource_ids;
	char *name;
	int has_item;
	struct oadr_item item;
};

struct oadr_event {
	struct oadr_event_descriptor descriptor;
	struct oadr_properties active;	/* eiActivePeriod/properties */
	struct oadr_signal *signals;
	size_t n_signals;
	int has_baseline;
	struct oadr_baseline baseline;
	struct oadr_target target;
	int response_required;		/* enum oadr_response_required */
};

/* ---- reports --------------------------------------------------------- */

struct oadr_report_description {
	char *rid;
	int has_subject;
	struct oadr_target subject;
	int has_data_source;
	struct oadr_target data_source;
	char *report_type;		/* e.g. "usage", "x-resourceStatus" */
	int has_item;
	struct oadr_item item;
	char *reading_type;		/* e.g. "Direct Read" */
	char *market_context;
	int has_sampling;
	int64_t min_period;		/* oadrSamplingRate */
	int64_t max_period;
	int on_change;
};

struct oadr_report {
	int has_dtstart;
	int64_t dtstart;
	int has_duration;
	int64_t duration;
	int has_intervals;
	struct oadr_intervals intervals;
	char *report_id;		/* eiReportID */
	struct oadr_report_description *descriptions;
	size_t n_descriptions;
	char *request_id;		/* reportRequestID, "0" in METADATA */
	char *specifier_id;		/* reportSpecifierID */
	char *name;			/* e.g. "TELEMETRY_USAGE" */
	int64_t created;
};

struct oadr_specifier_payload {
	char *rid;
	int has_item;
	struct oadr_item item;
	char *reading_type;
};

struct oadr_report_request {
	char *request_id;		/* reportRequestID */
	char *specifier_id;		/* reportSpecifier/reportSpecifierID */
	int64_t granularity;
	int64_t back_duration;		/* reportBackDuration */
	int has_interval;
	struct oadr_properties interval;	/* reportInterval */
	struct oadr_specifier_payload *payloads;
	size_t n_payloads;
};

/* ---- registration ---------------------------------------------------- */

struct oadr_transport {
	char *name;			/* "simpleHttp" or "xmpp" */
};

struct oadr_profile {
	char *name;			/* "2.0a" or "2.0b" */
	struct oadr_transport *transports;
	size_t n_transports;
};

struct oadr_info {
	char *key;
	char *value;
};

struct oadr_service {
	char *name;			/* EiEvent, EiOpt, EiReport, ... */
	struct oadr_info *infos;
	size_t n_infos;
};

struct oadr_extension {
	char *name;
	struct oadr_info *infos;
	size_t n_infos;
};

/* ---- messages -------------------------------------------------------- */

enum oadr_msg_type {
	OADR_MSG_NONE = 0,
	OADR_QUERY_REGISTRATION,
	OADR_CREATE_PARTY_REGISTRATION,
	OADR_CREATED_PARTY_REGISTRATION,
	OADR_CANCEL_PARTY_REGISTRATION,
	OADR_CANCELED_PARTY_REGISTRATION,
	OADR_REQUEST_REREGISTRATION,
	OADR_POLL,
	OADR_RESPONSE,
	OADR_REQUEST_EVENT,
	OADR_DISTRIBUTE_EVENT,
	OADR_CREATED_EVENT,
	OADR_REGISTER_REPORT,
	OADR_REGISTERED_REPORT,
	OADR_CREATE_REPORT,
	OADR_CREATED_REPORT,
	OADR_UPDATE_REPORT,
	OADR_UPDATED_REPORT,
	OADR_CANCEL_REPORT,
	OADR_CANCELED_REPORT,
	OADR_CREATE_OPT,
	OADR_CREATED_OPT,
	OADR_CANCEL_OPT,
	OADR_CANCELED_OPT,
	OADR_MSG_COUNT
};

struct oadr_query_registration {
	char *request_id;
};

struct oadr_create_party_registration {
	char *request_id;
	char *registration_id;		/* only when re-registering */
	char *ven_id;			/* only when the VTN assigned one */
	char *profile_name;		/* "2.0b" */
	char *transport_name;		/* "simpleHttp" */
	char *transport_address;	/* push model only */
	int report_only;
	int xml_signature;
	char *ven_name;
	int has_http_pull_model;
	int http_pull_model;
};

struct oadr_created_party_registration {
	struct oadr_response response;
	char *registration_id;
	char *ven_id;
	char *vtn_id;
	struct oadr_profile *profiles;
	size_t n_profiles;
	int has_poll_freq;
	int64_t poll_freq;		/* oadrRequestedOadrPollFreq */
	int has_service_info;
	struct oadr_service *services;
	size_t n_services;
	int has_extensions;
	struct oadr_extension *extensions;
	size_t n_extensions;
};

struct oadr_cancel_party_registration {
	char *request_id;
	char *registration_id;
	char *ven_id;
};

struct oadr_canceled_party_registration {
	struct oadr_response response;
	char *registration_id;
	char *ven_id;
};

struct oadr_request_reregistration {
	char *ven_id;
};

struct oadr_poll {
	char *ven_id;
};

struct oadr_response_msg {
	struct oadr_response response;
	char *ven_id;
};

struct oadr_request_event {
	char *request_id;
	char *ven_id;
	int has_reply_limit;
	uint32_t reply_limit;
};

struct oadr_distribute_event {
	int has_response;
	struct oadr_response response;
	char *request_id;
	char *vtn_id;
	struct oadr_event *events;
	size_t n_events;
};

/* ei:qualifiedEventID */
struct oadr_qualified_event {
	char *event_id;
	uint32_t modification_number;
};

struct oadr_event_response {
	unsigned code;
	char *description;
	char *request_id;
	struct oadr_qualified_event event;
	int opt_type;			/* enum oadr_opt_type */
};

struct oadr_created_event {
	struct oadr_response response;
	int has_event_responses;
	struct oadr_event_response *event_responses;
	size_t n_event_responses;
	char *ven_id;
};

/* oadrRegisterReport and oadrUpdateReport */
struct oadr_report_msg {
	char *request_id;
	struct oadr_report *reports;
	size_t n_reports;
	char *ven_id;
	char *report_request_id;	/* oadrRegisterReport only */
};

/* oadrRegisteredReport and oadrCreateReport */
struct oadr_report_request_msg {
	struct oadr_response response;	/* oadrRegisteredReport only */
	char *request_id;		/* oadrCreateReport only */
	struct oadr_report_request *requests;
	size_t n_requests;
	char *ven_id;
};

/* oadrCreatedReport and oadrCanceledReport */
struct oadr_pending_reports_msg {
	struct oadr_response response;
	struct oadr_strlist pending;	/* oadrPendingReports */
	char *ven_id;
};

struct oadr_cancel_report {
	char *request_id;
	struct oadr_strlist report_request_ids;
	int report_to_follow;
	char *ven_id;
};

struct oadr_updated_report {
	struct oadr_response response;
	int has_cancel_report;
	struct oadr_cancel_report cancel_report;
	char *ven_id;
};

struct oadr_create_opt {
	char *opt_id;
	int opt_type;			/* enum oadr_opt_type */
	char *opt_reason;		/* e.g. "economic", "x-schedule" */
	char *market_context;
	char *ven_id;
	int has_availability;		/* xcal:vavailability */
	struct oadr_properties *available;
	size_t n_available;
	int64_t created;
	char *request_id;
	int has_qualified_event;
	struct oadr_qualified_event qualified_event;
	struct oadr_target target;
	int has_device_class;
	struct oadr_target device_class;
};

/* oadrCreatedOpt and oadrCanceledOpt */
struct oadr_opt_response {
	struct oadr_response response;
	char *opt_id;
};

struct oadr_cancel_opt {
	char *request_id;
	char *opt_id;
	char *ven_id;
};

struct oadr_msg {
	int type;			/* enum oadr_msg_type */
	int wrapped;			/* came inside oadrPayload/oadrSignedObject */
	int signed_;			/* had a ds:Signature sibling (not verified) */
	union {
		struct oadr_query_registration query_registration;
		struct oadr_create_party_registration create_party_registration;
		struct oadr_created_party_registration created_party_registration;
		struct oadr_cancel_party_registration cancel_party_registration;
		struct oadr_canceled_party_registration canceled_party_registration;
		struct oadr_request_reregistration request_reregistration;
		struct oadr_poll poll;
		struct oadr_response_msg response;
		struct oadr_request_event request_event;
		struct oadr_distribute_event distribute_event;
		struct oadr_created_event created_event;
		struct oadr_report_msg register_report;
		struct oadr_report_request_msg registered_report;
		struct oadr_report_request_msg create_report;
		struct oadr_pending_reports_msg created_report;
		struct oadr_report_msg update_report;
		struct oadr_updated_report updated_report;
		struct oadr_cancel_report cancel_report;
		struct oadr_pending_reports_msg canceled_report;
		struct oadr_create_opt create_opt;
		struct oadr_opt_response created_opt;
		struct oadr_cancel_opt cancel_opt;
		struct oadr_opt_response canceled_opt;
	} u;
};

/* ---- API ------------------------------------------------------------- */

/* "oadrDistributeEvent" for OADR_DISTRIBUTE_EVENT; NULL if out of range. */
const char *oadr_msg_name(int type);
/* The OpenADR service a message is posted to: "EiEvent", "OadrPoll", ... */
const char *oadr_msg_service(int type);
/* Text of an enum value as written on the wire ("far", "level", ...). */
const char *oadr_status_name(int status);
const char *oadr_signal_type_name(int type);
/* NULL-terminated, indexed by enum oadr_signal_type / oadr_event_status. */
extern const char *const oadr_signal_type_names[];
extern const char *const oadr_event_status_names[];

/*
 * A compiled 2.0b schema: DIR/oadr_20b.xsd and its imports, read from DIR
 * only (network and other directories refused). NULL with err on failure.
 */
struct oadr_schema;
struct oadr_schema *oadr_schema_load(const char *dir, char *err,
    size_t errlen);
void oadr_schema_free(struct oadr_schema *s);

/*
 * Parse one document (bare message or oadrPayload/oadrSignedObject) into
 * *m. With a schema, the document must also validate. 0 on success;
 * -1 with err (and *m empty) otherwise.
 */
int oadr_parse(const char *buf, size_t len, const struct oadr_limits *lim,
    const struct oadr_schema *schema, struct oadr_msg *m, char *err,
    size_t errlen);

/*
 * Build m as oadrPayload/oadrSignedObject/<message>, UTF-8, times in UTC
 * with Z. Checks what the parser checks (required elements, ranges, text
 * that XML cannot carry); with a schema the result is validated too.
 * Returns a malloc'd NUL-terminated document and its length, or NULL
 * with err.
 */
char *oadr_build(const struct oadr_msg *m, const struct oadr_schema *schema,
    size_t *len, char *err, size_t errlen);

/* Free everything m owns and zero it (m itself is not freed). */
void oadr_msg_free(struct oadr_msg *m);

/* A deep copy of src into dst (which it owns). 0, or -1 out of memory. */
int oadr_msg_copy(struct oadr_msg *dst, const struct oadr_msg *src);

/* Deep equality (for tests and repeat detection): 1 equal, 0 not. */
int oadr_msg_equal(const struct oadr_msg *a, const struct oadr_msg *b);

/*
 * A short description of m for people: the message type and its key
 * fields, one line per event or report. Returns a malloc'd string.
 */
char *oadr_msg_describe(const struct oadr_msg *m);

/*
 * Allocation helpers for code that fills a message to build: a strdup
 * that aborts the message instead of the process (NULL on ENOMEM), and an
 * array growth helper (*v has *n elements of size sz; one zeroed element
 * is appended and returned).
 */
char *oadr_strdup(const char *s);
void *oadr_append(void **v, size_t *n, size_t sz);

#endif
