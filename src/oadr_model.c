/*
 * oadr_model — the 2.0b schema (oadr_20b.xsd and its imports) as tables.
 *
 * Each table lists a complex type's children in schema order with their
 * namespace, occurrence bounds and where the value lives in the C struct
 * of include/acgw/oadr.h. Local elements are in their schema's target
 * namespace (every 2.0b schema file is elementFormDefault="qualified").
 * Substitution groups (itemBase, payloadBase, streamPayloadBase, the
 * messages in oadrSignedObject) are choices: rows sharing a choice id,
 * each storing its tag so the builder and free know which one is there.
 */
#include "config.h"

#include <stddef.h>

#include "acgw/oadr.h"
#include "oadr_model.h"

const struct oadr_ns_info oadr_ns_table[OADR_NS_COUNT] = {
	[OADR_NS_OADR] = { "http://openadr.org/oadr-2.0b/2012/07", "oadr" },
	[OADR_NS_EI] = { "http://docs.oasis-open.org/ns/energyinterop/201110",
	    "ei" },
	[OADR_NS_PYLD] = {
	    "http://docs.oasis-open.org/ns/energyinterop/201110/payloads",
	    "pyld" },
	[OADR_NS_EMIX] = { "http://docs.oasis-open.org/ns/emix/2011/06",
	    "emix" },
	[OADR_NS_XCAL] = { "urn:ietf:params:xml:ns:icalendar-2.0", "xcal" },
	[OADR_NS_STRM] = { "urn:ietf:params:xml:ns:icalendar-2.0:stream",
	    "strm" },
	[OADR_NS_POWER] = {
	    "http://docs.oasis-open.org/ns/emix/2011/06/power", "power" },
	[OADR_NS_SCALE] = {
	    "http://docs.oasis-open.org/ns/emix/2011/06/siscale", "scale" },
	[OADR_NS_DS] = { "http://www.w3.org/2000/09/xmldsig#", "ds" },
};

const char *const oadr_event_status_names[] = {
	"none", "far", "near", "active", "completed", "cancelled", NULL
};
const char *const oadr_signal_type_names[] = {
	"delta", "level", "multiplier", "price", "priceMultiplier",
	"priceRelative", "setpoint", "x-loadControlCapacity",
	"x-loadControlLevelOffset", "x-loadControlPercentOffset",
	"x-loadControlSetpoint", NULL
};
static const char *const response_required_names[] = {
	"always", "never", NULL
};
static const char *const opt_type_names[] = { "optIn", "optOut", NULL };

/*
 * Row makers. S is the struct the current table describes; O(m) an
 * offset in it. Strings are absent when NULL, so they need no flag.
 */
#define O(m) offsetof(S, m)
#define ROW(sp_, name_, kind_, min_, max_, off_, aux_) \
	{ .name = name_, .ns = OADR_NS_##sp_, .kind = OADR_K_##kind_, \
	  .min = min_, .max = max_, .off = off_, .aux = aux_, \
	  .tag_rel = OADR_NOTAG }
/* required / optional single value */
#define REQ(sp, name, kind, m) ROW(sp, name, kind, 1, 1, O(m), OADR_NOAUX)
#define OPT(sp, name, kind, m, has) ROW(sp, name, kind, 0, 1, O(m), O(has))
#define OSTR(sp, name, m) ROW(sp, name, STR, 0, 1, O(m), OADR_NOAUX)
#define OTOK(sp, name, m) ROW(sp, name, TOKEN, 0, 1, O(m), OADR_NOAUX)
#define ENUM(sp, nm, m, names) \
	{ .name = nm, .ns = OADR_NS_##sp, .kind = OADR_K_ENUM, .min = 1, \
	  .max = 1, .off = O(m), .aux = OADR_NOAUX, .tag_rel = OADR_NOTAG, \
	  .choices = names }
/* required / optional complex child embedded at m (m may be the struct) */
#define SUB(sp, nm, t, off_) \
	{ .name = nm, .ns = OADR_NS_##sp, .kind = OADR_K_SUB, .min = 1, \
	  .max = 1, .off = off_, .aux = OADR_NOAUX, .tag_rel = OADR_NOTAG, \
	  .sub = &t }
#define OSUB(sp, nm, t, off_, has) \
	{ .name = nm, .ns = OADR_NS_##sp, .kind = OADR_K_SUB, .min = 0, \
	  .max = 1, .off = off_, .aux = has, .tag_rel = OADR_NOTAG, \
	  .sub = &t }
/* array of complex children: T *v at m, size_t count at n */
#define ARR(sp, nm, t, m, n, min_, lim) \
	{ .name = nm, .ns = OADR_NS_##sp, .kind = OADR_K_SUB, .min = min_, \
	  .max = 0, .off = O(m), .aux = O(n), .tag_rel = OADR_NOTAG, \
	  .elem_size = sizeof(*((S *)0)->m), .sub = &t, \
	  .limit = OADR_L_##lim }
/* array of strings in a struct oadr_strlist at m */
#define SARR(sp, nm, m, min_) \
	{ .name = nm, .ns = OADR_NS_##sp, .kind = OADR_K_STR, .min = min_, \
	  .max = 0, .off = O(m.v), .aux = O(m.n), .tag_rel = OADR_NOTAG, \
	  .elem_size = sizeof(char *) }
/* allowed element whose content is not kept */
#define SKIP(sp, nm, min_, max_) \
	{ .name = nm, .ns = OADR_NS_##sp, .kind = OADR_K_SKIP, \
	  .min = min_, .max = max_, .off = 0, .aux = OADR_NOAUX, \
	  .tag_rel = OADR_NOTAG }
#define TYPE(var, sname, rows) \
	static const struct oadr_type var = { sname, sizeof(S), rows, \
	    sizeof(rows) / sizeof(rows[0]) }

/* ---- small wrappers: one child carrying the value --------------------- */

#define S int64_t
static const struct oadr_field f_dtprop[] = {
	ROW(XCAL, "date-time", TIME, 1, 1, 0, OADR_NOAUX),
};
TYPE(t_dtprop, "dtstart", f_dtprop);
static const struct oadr_field f_durprop[] = {
	ROW(XCAL, "duration", DUR, 1, 1, 0, OADR_NOAUX),
};
TYPE(t_durprop, "DurationPropType", f_durprop);
#undef S

#define S char *
static const struct oadr_field f_uidprop[] = {
	ROW(XCAL, "text", STR, 1, 1, 0, OADR_NOAUX),
};
TYPE(t_uidprop, "uid", f_uidprop);
static const struct oadr_field f_marketctx[] = {
	ROW(EMIX, "marketContext", STR, 1, 1, 0, OADR_NOAUX),
};
TYPE(t_marketctx, "eiMarketContext", f_marketctx);
#undef S

#define S double
static const struct oadr_field f_floatval[] = {
	ROW(EI, "value", FLOAT, 1, 1, 0, OADR_NOAUX),
};
TYPE(t_floatval, "PayloadFloatType", f_floatval);
static const struct oadr_field f_curval[] = {
	SUB(EI, "payloadFloat", t_floatval, 0),
};
TYPE(t_curval, "currentValueType", f_curval);
#undef S

/* ---- targets ---------------------------------------------------------- */

#define S struct oadr_target
static const struct oadr_field f_target[] = {
	SKIP(POWER, "aggregatedPnode", 0, 0),
	SKIP(POWER, "endDeviceAsset", 0, 0),
	SKIP(POWER, "meterAsset", 0, 0),
	SKIP(POWER, "pnode", 0, 0),
	SKIP(EMIX, "serviceArea", 0, 0),
	SKIP(POWER, "serviceDeliveryPoint", 0, 0),
	SKIP(POWER, "serviceLocation", 0, 0),
	SKIP(POWER, "transportInterface", 0, 0),
	SARR(EI, "groupID", group_ids, 0),
	SARR(EI, "groupName", group_names, 0),
	SARR(EI, "resourceID", resource_ids, 0),
	SARR(EI, "venID", ven_ids, 0),
	SARR(EI, "partyID", party_ids, 0),
};
TYPE(t_target, "EiTargetType", f_target);
#undef S

/* ---- itemBase --------------------------------------------------------- */

#define S struct oadr_item
static const struct oadr_field f_power_attrs[] = {
	REQ(POWER, "hertz", DECIMAL, hertz),
	REQ(POWER, "voltage", DECIMAL, voltage),
	REQ(POWER, "ac", BOOL, ac),
};
TYPE(t_power_attrs, "PowerAttributesType", f_power_attrs);
/* voltage, energy* */
static const struct oadr_field f_item_power_plain[] = {
	REQ(POWER, "itemDescription", STR, description),
	REQ(POWER, "itemUnits", TOKEN, units),
	REQ(SCALE, "siScaleCode", TOKEN, si_scale),
};
TYPE(t_item_power_plain, "EnergyItemType", f_item_power_plain);
/* power* */
static const struct oadr_field f_item_power[] = {
	REQ(POWER, "itemDescription", STR, description),
	REQ(POWER, "itemUnits", TOKEN, units),
	REQ(SCALE, "siScaleCode", TOKEN, si_scale),
	SUB(POWER, "powerAttributes", t_power_attrs, 0),
};
TYPE(t_item_power, "PowerItemType", f_item_power);
/* customUnit, current, currency*, frequency, Therm, temperature */
static const struct oadr_field f_item_oadr[] = {
	REQ(OADR, "itemDescription", STR, description),
	REQ(OADR, "itemUnits", TOKEN, units),
	REQ(SCALE, "siScaleCode", TOKEN, si_scale),
};
TYPE(t_item_oadr, "BaseUnitType", f_item_oadr);
static const struct oadr_field f_item_pulse[] = {
	REQ(OADR, "itemDescription", STR, description),
	REQ(OADR, "itemUnits", TOKEN, units),
	REQ(OADR, "pulseFactor", FLOAT, pulse_factor),
};
TYPE(t_item_pulse, "pulseCountType", f_item_pulse);
#undef S

/*
 * The itemBase choice inside struct S at member m with has flag h: every
 * substitute the 2.0b schema defines, tagged with its enum oadr_item_kind.
 */
#define ITEM_ALT(sp_, name_, t, k, m, h) \
	{ .name = name_, .ns = OADR_NS_##sp_, .kind = OADR_K_SUB, .min = 0, \
	  .max = 1, .off = O(m), .aux = O(h), .choice = 1, \
	  .tag_rel = offsetof(struct oadr_item, kind), .tag = OADR_ITEM_##k, \
	  .sub = &t }
#define ITEMS(m, h) \
	ITEM_ALT(POWER, "powerReal", t_item_power, POWER_REAL, m, h), \
	ITEM_ALT(POWER, "powerApparent", t_item_power, POWER_APPARENT, m, h), \
	ITEM_ALT(POWER, "powerReactive", t_item_power, POWER_REACTIVE, m, h), \
	ITEM_ALT(POWER, "energyReal", t_item_power_plain, ENERGY_REAL, m, h), \
	ITEM_ALT(POWER, "energyApparent", t_item_power_plain, \
	    ENERGY_APPARENT, m, h), \
	ITEM_ALT(POWER, "energyReactive", t_item_power_plain, \
	    ENERGY_REACTIVE, m, h), \
	ITEM_ALT(POWER, "voltage", t_item_power_plain, VOLTAGE, m, h), \
	ITEM_ALT(OADR, "current", t_item_oadr, CURRENT, m, h), \
	ITEM_ALT(OADR, "frequency", t_item_oadr, FREQUENCY, m, h), \
	ITEM_ALT(OADR, "currency", t_item_oadr, CURRENCY, m, h), \
	ITEM_ALT(OADR, "currencyPerKWh", t_item_oadr, CURRENCY_PER_KWH, m, h), \
	ITEM_ALT(OADR, "currencyPerKW", t_item_oadr, CURRENCY_PER_KW, m, h), \
	ITEM_ALT(OADR, "currencyPerThm", t_item_oadr, CURRENCY_PER_THM, m, h), \
	ITEM_ALT(OADR, "Therm", t_item_oadr, THERM, m, h), \
	ITEM_ALT(OADR, "temperature", t_item_oadr, TEMPERATURE, m, h), \
	ITEM_ALT(OADR, "pulseCount", t_item_pulse, PULSE_COUNT, m, h), \
	ITEM_ALT(OADR, "customUnit", t_item_oadr, CUSTOM_UNIT, m, h), \
	{ .name = "oadrGBDataDescription", .ns = OADR_NS_OADR, \
	  .kind = OADR_K_SKIP, .min = 0, .max = 1, .off = O(m), .aux = O(h), \
	  .choice = 1, .tag_rel = offsetof(struct oadr_item, kind), \
	  .tag = OADR_ITEM_GREEN_BUTTON }

/* ---- payloads and intervals ------------------------------------------- */

#define S struct oadr_load_value
static const struct oadr_field f_load_value[] = {
	OPT(OADR, "oadrMin", FLOAT, min, has_min),
	OPT(OADR, "oadrMax", FLOAT, max, has_max),
	REQ(OADR, "oadrCurrent", FLOAT, current),
	OPT(OADR, "oadrNormal", FLOAT, normal, has_normal),
};
TYPE(t_load_value, "oadrLoadControlStateTypeType", f_load_value);
#undef S

#define S struct oadr_resource_status
static const struct oadr_field f_load_state[] = {
	OSUB(OADR, "oadrCapacity", t_load_value, O(capacity), O(has_capacity)),
	OSUB(OADR, "oadrLevelOffset", t_load_value, O(level_offset),
	    O(has_level_offset)),
	OSUB(OADR, "oadrPercentOffset", t_load_value, O(percent_offset),
	    O(has_percent_offset)),
	OSUB(OADR, "oadrSetPoint", t_load_value, O(set_point),
	    O(has_set_point)),
};
TYPE(t_load_state, "oadrLoadControlStateType", f_load_state);
#undef S

#define S struct oadr_value
static const struct oadr_field f_pfloat[] = {
	REQ(EI, "value", FLOAT, value),
};
TYPE(t_pfloat, "PayloadFloatType", f_pfloat);
static const struct oadr_field f_rstatus[] = {
	REQ(OADR, "oadrOnline", BOOL, status.online),
	REQ(OADR, "oadrManualOverride", BOOL, status.manual_override),
	OSUB(OADR, "oadrLoadControlState", t_load_state, O(status),
	    O(status.has_load_control)),
};
TYPE(t_rstatus, "oadrPayloadResourceStatusType", f_rstatus);
#undef S

/* The payloadBase choice, stored in struct oadr_value at m. */
#define VALUE_ALT(sp_, name_, t, k, m) \
	{ .name = name_, .ns = OADR_NS_##sp_, .kind = OADR_K_SUB, .min = 1, \
	  .max = 1, .off = O(m), .aux = OADR_NOAUX, .choice = 2, \
	  .tag_rel = offsetof(struct oadr_value, kind), \
	  .tag = OADR_PAYLOAD_##k, .sub = &t }
#define VALUES(m) \
	VALUE_ALT(EI, "payloadFloat", t_pfloat, FLOAT, m), \
	VALUE_ALT(OADR, "oadrPayloadResourceStatus", t_rstatus, STATUS, m)

#define S struct oadr_stream_payload
static const struct oadr_field f_signal_payload[] = {
	VALUES(value),
};
TYPE(t_signal_payload, "signalPayloadType", f_signal_payload);
static const struct oadr_field f_report_payload[] = {
	REQ(EI, "rID", STR, rid),
	OPT(EI, "confidence", PCT, confidence, has_confidence),
	OPT(EI, "accuracy", FLOAT, accuracy, has_accuracy),
	VALUES(value),
	OTOK(OADR, "oadrDataQuality", data_quality),
};
TYPE(t_report_payload, "oadrReportPayloadType", f_report_payload);
#undef S

#define S struct oadr_interval
#define STREAM_ALT(sp_, name_, t, k) \
	{ .name = name_, .ns = OADR_NS_##sp_, .kind = OADR_K_SUB, .min = 1, \
	  .max = 0, .off = O(payloads), .aux = O(n_payloads), .choice = 1, \
	  .tag_rel = offsetof(struct oadr_stream_payload, kind), \
	  .tag = OADR_STREAM_##k, .elem_size = sizeof(struct oadr_stream_payload), \
	  .sub = &t }
static const struct oadr_field f_interval[] = {
	OSUB(XCAL, "dtstart", t_dtprop, O(dtstart), O(has_dtstart)),
	OSUB(XCAL, "duration", t_durprop, O(duration), O(has_duration)),
	OSUB(XCAL, "uid", t_uidprop, O(uid), OADR_NOAUX),
	STREAM_ALT(EI, "signalPayload", t_signal_payload, SIGNAL),
	STREAM_ALT(OADR, "oadrReportPayload", t_report_payload, REPORT),
	{ .name = "oadrGBPayload", .ns = OADR_NS_OADR, .kind = OADR_K_SKIP,
	  .min = 1, .max = 0, .off = 0, .aux = OADR_NOAUX, .choice = 1,
	  .tag_rel = OADR_NOTAG },
};
TYPE(t_interval, "IntervalType", f_interval);
#undef S

#define S struct oadr_intervals
static const struct oadr_field f_intervals[] = {
	ARR(EI, "interval", t_interval, v, n, 1, INTERVALS),
};
TYPE(t_intervals, "intervals", f_intervals);
#undef S

/* ---- xcal properties -------------------------------------------------- */

#define S struct oadr_properties
static const struct oadr_field f_tolerate[] = {
	OPT(XCAL, "startafter", DUR, start_after, has_start_after),
};
TYPE(t_tolerate, "tolerate", f_tolerate);
static const struct oadr_field f_tolerance[] = {
	SUB(XCAL, "tolerate", t_tolerate, 0),
};
TYPE(t_tolerance, "tolerance", f_tolerance);
static const struct oadr_field f_properties[] = {
	SUB(XCAL, "dtstart", t_dtprop, O(dtstart)),
	SUB(XCAL, "duration", t_durprop, O(duration)),
	OSUB(XCAL, "tolerance", t_tolerance, 0, O(has_tolerance)),
	OSUB(EI, "x-eiNotification", t_durprop, O(notification),
	    O(has_notification)),
	OSUB(EI, "x-eiRampUp", t_durprop, O(ramp_up), O(has_ramp_up)),
	OSUB(EI, "x-eiRecovery", t_durprop, O(recovery), O(has_recovery)),
};
TYPE(t_properties, "properties", f_properties);
static const struct oadr_field f_wrapped_properties[] = {
	SUB(XCAL, "properties", t_properties, 0),
};
TYPE(t_wrapped_properties, "WsCalendarIntervalType", f_wrapped_properties);
static const struct oadr_field f_active_period[] = {
	SUB(XCAL, "properties", t_properties, 0),
	SKIP(XCAL, "components", 1, 1),
};
TYPE(t_active_period, "eiActivePeriodType", f_active_period);
#undef S

/* ---- events ----------------------------------------------------------- */

#define S struct oadr_event_descriptor
static const struct oadr_field f_descriptor[] = {
	REQ(EI, "eventID", STR, event_id),
	REQ(EI, "modificationNumber", UINT, modification_number),
	OPT(EI, "modificationDateTime", TIME, modification_time,
	    has_modification_time),
	OSTR(EI, "modificationReason", modification_reason),
	OPT(EI, "priority", UINT, priority, has_priority),
	SUB(EI, "eiMarketContext", t_marketctx, O(market_context)),
	REQ(EI, "createdDateTime", TIME, created),
	ENUM(EI, "eventStatus", status, oadr_event_status_names),
	OSTR(EI, "testEvent", test_event),
	OSTR(EI, "vtnComment", vtn_comment),
};
TYPE(t_descriptor, "eventDescriptorType", f_descriptor);
#undef S

#define S struct oadr_signal
static const struct oadr_field f_signal[] = {
	SUB(STRM, "intervals", t_intervals, O(intervals)),
	OSUB(EI, "eiTarget", t_target, O(target), O(has_target)),
	REQ(EI, "signalName", TOKEN, name),
	ENUM(EI, "signalType", type, oadr_signal_type_names),
	REQ(EI, "signalID", STR, id),
	ITEMS(item, has_item),
	OSUB(EI, "currentValue", t_curval, O(current_value),
	    O(has_current_value)),
};
TYPE(t_signal, "eiEventSignalType", f_signal);
#undef S

#define S struct oadr_baseline
static const struct oadr_field f_baseline[] = {
	SUB(XCAL, "dtstart", t_dtprop, O(dtstart)),
	SUB(XCAL, "duration", t_durprop, O(duration)),
	SUB(STRM, "intervals", t_intervals, O(intervals)),
	REQ(EI, "baselineID", STR, id),
	SARR(EI, "resourceID", resource_ids, 0),
	REQ(EI, "baselineName", STR, name),
	ITEMS(item, has_item),
};
TYPE(t_baseline, "eiEventBaselineType", f_baseline);
#undef S

#define S struct oadr_event
static const struct oadr_field f_signals[] = {
	ARR(EI, "eiEventSignal", t_signal, signals, n_signals, 1, SIGNALS),
	OSUB(EI, "eiEventBaseline", t_baseline, O(baseline), O(has_baseline)),
};
TYPE(t_signals, "eiEventSignalsType", f_signals);
static const struct oadr_field f_eievent[] = {
	SUB(EI, "eventDescriptor", t_descriptor, O(descriptor)),
	SUB(EI, "eiActivePeriod", t_active_period, O(active)),
	SUB(EI, "eiEventSignals", t_signals, 0),
	SUB(EI, "eiTarget", t_target, O(target)),
};
TYPE(t_eievent, "eiEventType", f_eievent);
static const struct oadr_field f_oadr_event[] = {
	SUB(EI, "eiEvent", t_eievent, 0),
	ENUM(OADR, "oadrResponseRequired", response_required,
	    response_required_names),
};
TYPE(t_oadr_event, "oadrEvent", f_oadr_event);
#undef S

#define S struct oadr_response
static const struct oadr_field f_response[] = {
	REQ(EI, "responseCode", CODE, code),
	OSTR(EI, "responseDescription", description),
	REQ(PYLD, "requestID", STR, request_id),
};
TYPE(t_response, "EiResponseType", f_response);
#undef S

#define S struct oadr_qualified_event
static const struct oadr_field f_qualified[] = {
	REQ(EI, "eventID", STR, event_id),
	REQ(EI, "modificationNumber", UINT, modification_number),
};
TYPE(t_qualified, "QualifiedEventIDType", f_qualified);
#undef S

#define S struct oadr_event_response
static const struct oadr_field f_event_response[] = {
	REQ(EI, "responseCode", CODE, code),
	OSTR(EI, "responseDescription", description),
	REQ(PYLD, "requestID", STR, request_id),
	SUB(EI, "qualifiedEventID", t_qualified, O(event)),
	ENUM(EI, "optType", opt_type, opt_type_names),
};
TYPE(t_event_response, "eventResponse", f_event_response);
#undef S

#define S struct oadr_distribute_event
static const struct oadr_field f_distribute[] = {
	OSUB(EI, "eiResponse", t_response, O(response), O(has_response)),
	REQ(PYLD, "requestID", STR, request_id),
	REQ(EI, "vtnID", STR, vtn_id),
	ARR(OADR, "oadrEvent", t_oadr_event, events, n_events, 0, EVENTS),
};
TYPE(t_distribute, "oadrDistributeEventType", f_distribute);
#undef S

#define S struct oadr_created_event
static const struct oadr_field f_event_responses[] = {
	ARR(EI, "eventResponse", t_event_response, event_responses,
	    n_event_responses, 0, EVENTS),
};
TYPE(t_event_responses, "eventResponses", f_event_responses);
static const struct oadr_field f_ei_created[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	OSUB(EI, "eventResponses", t_event_responses, 0,
	    O(has_event_responses)),
	REQ(EI, "venID", STR, ven_id),
};
TYPE(t_ei_created, "eiCreatedEvent", f_ei_created);
static const struct oadr_field f_created_event[] = {
	SUB(PYLD, "eiCreatedEvent", t_ei_created, 0),
};
TYPE(t_created_event, "oadrCreatedEventType", f_created_event);
#undef S

#define S struct oadr_request_event
static const struct oadr_field f_ei_request[] = {
	REQ(PYLD, "requestID", STR, request_id),
	REQ(EI, "venID", STR, ven_id),
	OPT(PYLD, "replyLimit", UINT, reply_limit, has_reply_limit),
};
TYPE(t_ei_request, "eiRequestEvent", f_ei_request);
static const struct oadr_field f_request_event[] = {
	SUB(PYLD, "eiRequestEvent", t_ei_request, 0),
};
TYPE(t_request_event, "oadrRequestEventType", f_request_event);
#undef S

/* ---- opt -------------------------------------------------------------- */

#define S struct oadr_create_opt
static const struct oadr_field f_vcomponents[] = {
	ARR(XCAL, "available", t_wrapped_properties, available, n_available,
	    0, INTERVALS),
};
TYPE(t_vcomponents, "ArrayOfVavailabilityContainedComponents",
    f_vcomponents);
static const struct oadr_field f_vavailability[] = {
	SUB(XCAL, "components", t_vcomponents, 0),
};
TYPE(t_vavailability, "VavailabilityType", f_vavailability);
static const struct oadr_field f_create_opt[] = {
	REQ(EI, "optID", STR, opt_id),
	ENUM(EI, "optType", opt_type, opt_type_names),
	REQ(EI, "optReason", TOKEN, opt_reason),
	OSTR(EMIX, "marketContext", market_context),
	REQ(EI, "venID", STR, ven_id),
	OSUB(XCAL, "vavailability", t_vavailability, 0, O(has_availability)),
	REQ(EI, "createdDateTime", TIME, created),
	REQ(PYLD, "requestID", STR, request_id),
	OSUB(EI, "qualifiedEventID", t_qualified, O(qualified_event),
	    O(has_qualified_event)),
	SUB(EI, "eiTarget", t_target, O(target)),
	OSUB(OADR, "oadrDeviceClass", t_target, O(device_class),
	    O(has_device_class)),
};
TYPE(t_create_opt, "oadrCreateOptType", f_create_opt);
#undef S

#define S struct oadr_opt_response
static const struct oadr_field f_created_opt[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	REQ(EI, "optID", STR, opt_id),
};
TYPE(t_created_opt, "oadrCreatedOptType", f_created_opt);
static const struct oadr_field f_canceled_opt[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	OSTR(EI, "optID", opt_id),
};
TYPE(t_canceled_opt, "oadrCanceledOptType", f_canceled_opt);
#undef S

#define S struct oadr_cancel_opt
static const struct oadr_field f_cancel_opt[] = {
	REQ(PYLD, "requestID", STR, request_id),
	REQ(EI, "optID", STR, opt_id),
	REQ(EI, "venID", STR, ven_id),
};
TYPE(t_cancel_opt, "oadrCancelOptType", f_cancel_opt);
#undef S

/* ---- reports ---------------------------------------------------------- */

#define S struct oadr_report_description
static const struct oadr_field f_sampling[] = {
	REQ(OADR, "oadrMinPeriod", DUR, min_period),
	REQ(OADR, "oadrMaxPeriod", DUR, max_period),
	REQ(OADR, "oadrOnChange", BOOL, on_change),
};
TYPE(t_sampling, "oadrSamplingRateType", f_sampling);
static const struct oadr_field f_description[] = {
	REQ(EI, "rID", STR, rid),
	OSUB(EI, "reportSubject", t_target, O(subject), O(has_subject)),
	OSUB(EI, "reportDataSource", t_target, O(data_source),
	    O(has_data_source)),
	REQ(EI, "reportType", TOKEN, report_type),
	ITEMS(item, has_item),
	REQ(EI, "readingType", TOKEN, reading_type),
	OSTR(EMIX, "marketContext", market_context),
	OSUB(OADR, "oadrSamplingRate", t_sampling, 0, O(has_sampling)),
};
TYPE(t_description, "oadrReportDescriptionType", f_description);
#undef S

#define S struct oadr_report
static const struct oadr_field f_report[] = {
	OSUB(XCAL, "dtstart", t_dtprop, O(dtstart), O(has_dtstart)),
	OSUB(XCAL, "duration", t_durprop, O(duration), O(has_duration)),
	OSUB(STRM, "intervals", t_intervals, O(intervals), O(has_intervals)),
	OSTR(EI, "eiReportID", report_id),
	ARR(OADR, "oadrReportDescription", t_description, descriptions,
	    n_descriptions, 0, REPORTS),
	REQ(EI, "reportRequestID", STR, request_id),
	REQ(EI, "reportSpecifierID", STR, specifier_id),
	OTOK(EI, "reportName", name),
	REQ(EI, "createdDateTime", TIME, created),
};
TYPE(t_report, "oadrReportType", f_report);
#undef S

#define S struct oadr_specifier_payload
static const struct oadr_field f_specifier_payload[] = {
	REQ(EI, "rID", STR, rid),
	ITEMS(item, has_item),
	REQ(EI, "readingType", TOKEN, reading_type),
};
TYPE(t_specifier_payload, "SpecifierPayloadType", f_specifier_payload);
#undef S

#define S struct oadr_report_request
static const struct oadr_field f_specifier[] = {
	REQ(EI, "reportSpecifierID", STR, specifier_id),
	SUB(XCAL, "granularity", t_durprop, O(granularity)),
	SUB(EI, "reportBackDuration", t_durprop, O(back_duration)),
	OSUB(EI, "reportInterval", t_wrapped_properties, O(interval),
	    O(has_interval)),
	ARR(EI, "specifierPayload", t_specifier_payload, payloads, n_payloads,
	    1, REPORTS),
};
TYPE(t_specifier, "ReportSpecifierType", f_specifier);
static const struct oadr_field f_report_request[] = {
	REQ(EI, "reportRequestID", STR, request_id),
	SUB(EI, "reportSpecifier", t_specifier, 0),
};
TYPE(t_report_request, "oadrReportRequestType", f_report_request);
#undef S

#define S struct oadr_report_msg
static const struct oadr_field f_register_report[] = {
	REQ(PYLD, "requestID", STR, request_id),
	ARR(OADR, "oadrReport", t_report, reports, n_reports, 0, REPORTS),
	OSTR(EI, "venID", ven_id),
	OSTR(EI, "reportRequestID", report_request_id),
};
TYPE(t_register_report, "oadrRegisterReportType", f_register_report);
static const struct oadr_field f_update_report[] = {
	REQ(PYLD, "requestID", STR, request_id),
	ARR(OADR, "oadrReport", t_report, reports, n_reports, 0, REPORTS),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_update_report, "oadrUpdateReportType", f_update_report);
#undef S

#define S struct oadr_report_request_msg
static const struct oadr_field f_registered_report[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	ARR(OADR, "oadrReportRequest", t_report_request, requests, n_requests,
	    0, REPORTS),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_registered_report, "oadrRegisteredReportType", f_registered_report);
static const struct oadr_field f_create_report[] = {
	REQ(PYLD, "requestID", STR, request_id),
	ARR(OADR, "oadrReportRequest", t_report_request, requests, n_requests,
	    1, REPORTS),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_create_report, "oadrCreateReportType", f_create_report);
#undef S

#define S struct oadr_strlist
static const struct oadr_field f_pending_list[] = {
	{ .name = "reportRequestID", .ns = OADR_NS_EI, .kind = OADR_K_STR,
	  .min = 0, .max = 0, .off = offsetof(S, v), .aux = offsetof(S, n),
	  .tag_rel = OADR_NOTAG, .elem_size = sizeof(char *) },
};
TYPE(t_pending_list, "oadrPendingReportsType", f_pending_list);
#undef S

#define S struct oadr_pending_reports_msg
static const struct oadr_field f_pending[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	SUB(OADR, "oadrPendingReports", t_pending_list, O(pending)),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_pending, "oadrCreatedReportType", f_pending);
#undef S

#define S struct oadr_cancel_report
static const struct oadr_field f_cancel_report[] = {
	REQ(PYLD, "requestID", STR, request_id),
	SARR(EI, "reportRequestID", report_request_ids, 1),
	REQ(PYLD, "reportToFollow", BOOL, report_to_follow),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_cancel_report, "oadrCancelReportType", f_cancel_report);
#undef S

#define S struct oadr_updated_report
static const struct oadr_field f_updated_report[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	OSUB(OADR, "oadrCancelReport", t_cancel_report, O(cancel_report),
	    O(has_cancel_report)),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_updated_report, "oadrUpdatedReportType", f_updated_report);
#undef S

/* ---- registration ----------------------------------------------------- */

#define S struct oadr_query_registration
static const struct oadr_field f_query_registration[] = {
	REQ(PYLD, "requestID", STR, request_id),
};
TYPE(t_query_registration, "oadrQueryRegistrationType",
    f_query_registration);
#undef S

#define S struct oadr_create_party_registration
static const struct oadr_field f_create_party[] = {
	REQ(PYLD, "requestID", STR, request_id),
	OSTR(EI, "registrationID", registration_id),
	OSTR(EI, "venID", ven_id),
	REQ(OADR, "oadrProfileName", TOKEN, profile_name),
	REQ(OADR, "oadrTransportName", TOKEN, transport_name),
	OSTR(OADR, "oadrTransportAddress", transport_address),
	REQ(OADR, "oadrReportOnly", BOOL, report_only),
	REQ(OADR, "oadrXmlSignature", BOOL, xml_signature),
	OSTR(OADR, "oadrVenName", ven_name),
	OPT(OADR, "oadrHttpPullModel", BOOL, http_pull_model,
	    has_http_pull_model),
};
TYPE(t_create_party, "oadrCreatePartyRegistrationType", f_create_party);
#undef S

#define S struct oadr_transport
static const struct oadr_field f_transport[] = {
	REQ(OADR, "oadrTransportName", TOKEN, name),
};
TYPE(t_transport, "oadrTransport", f_transport);
#undef S

#define S struct oadr_profile
static const struct oadr_field f_transports[] = {
	ARR(OADR, "oadrTransport", t_transport, transports, n_transports, 1,
	    NONE),
};
TYPE(t_transports, "oadrTransports", f_transports);
static const struct oadr_field f_profile[] = {
	REQ(OADR, "oadrProfileName", TOKEN, name),
	SUB(OADR, "oadrTransports", t_transports, 0),
};
TYPE(t_profile, "oadrProfile", f_profile);
#undef S

#define S struct oadr_info
static const struct oadr_field f_info[] = {
	REQ(OADR, "oadrKey", STR, key),
	REQ(OADR, "oadrValue", STR, value),
};
TYPE(t_info, "oadrInfo", f_info);
#undef S

#define S struct oadr_service
static const struct oadr_field f_service[] = {
	REQ(OADR, "oadrServiceName", TOKEN, name),
	ARR(OADR, "oadrInfo", t_info, infos, n_infos, 1, NONE),
};
TYPE(t_service, "oadrService", f_service);
#undef S

#define S struct oadr_extension
static const struct oadr_field f_extension[] = {
	REQ(OADR, "oadrExtensionName", STR, name),
	ARR(OADR, "oadrInfo", t_info, infos, n_infos, 0, NONE),
};
TYPE(t_extension, "oadrExtension", f_extension);
#undef S

#define S struct oadr_created_party_registration
static const struct oadr_field f_profiles[] = {
	ARR(OADR, "oadrProfile", t_profile, profiles, n_profiles, 1, NONE),
};
TYPE(t_profiles, "oadrProfiles", f_profiles);
static const struct oadr_field f_service_info[] = {
	ARR(OADR, "oadrService", t_service, services, n_services, 0, NONE),
};
TYPE(t_service_info, "oadrServiceSpecificInfo", f_service_info);
static const struct oadr_field f_extensions[] = {
	ARR(OADR, "oadrExtension", t_extension, extensions, n_extensions, 0,
	    NONE),
};
TYPE(t_extensions, "oadrExtensions", f_extensions);
static const struct oadr_field f_created_party[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	OSTR(EI, "registrationID", registration_id),
	OSTR(EI, "venID", ven_id),
	REQ(EI, "vtnID", STR, vtn_id),
	SUB(OADR, "oadrProfiles", t_profiles, 0),
	OSUB(OADR, "oadrRequestedOadrPollFreq", t_durprop, O(poll_freq),
	    O(has_poll_freq)),
	OSUB(OADR, "oadrServiceSpecificInfo", t_service_info, 0,
	    O(has_service_info)),
	OSUB(OADR, "oadrExtensions", t_extensions, 0, O(has_extensions)),
};
TYPE(t_created_party, "oadrCreatedPartyRegistrationType", f_created_party);
#undef S

#define S struct oadr_cancel_party_registration
static const struct oadr_field f_cancel_party[] = {
	REQ(PYLD, "requestID", STR, request_id),
	REQ(EI, "registrationID", STR, registration_id),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_cancel_party, "oadrCancelPartyRegistrationType", f_cancel_party);
#undef S

#define S struct oadr_canceled_party_registration
static const struct oadr_field f_canceled_party[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	OSTR(EI, "registrationID", registration_id),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_canceled_party, "oadrCanceledPartyRegistrationType",
    f_canceled_party);
#undef S

#define S struct oadr_request_reregistration
static const struct oadr_field f_reregistration[] = {
	REQ(EI, "venID", STR, ven_id),
};
TYPE(t_reregistration, "oadrRequestReregistrationType", f_reregistration);
#undef S

#define S struct oadr_poll
static const struct oadr_field f_poll[] = {
	REQ(EI, "venID", STR, ven_id),
};
TYPE(t_poll, "oadrPollType", f_poll);
#undef S

#define S struct oadr_response_msg
static const struct oadr_field f_response_msg[] = {
	SUB(EI, "eiResponse", t_response, O(response)),
	OSTR(EI, "venID", ven_id),
};
TYPE(t_response_msg, "oadrResponseType", f_response_msg);
#undef S

/* ---- the document ----------------------------------------------------- */

const struct oadr_msg_info oadr_msg_table[OADR_MSG_COUNT] = {
	[OADR_QUERY_REGISTRATION] = { "oadrQueryRegistration",
	    "EiRegisterParty" },
	[OADR_CREATE_PARTY_REGISTRATION] = { "oadrCreatePartyRegistration",
	    "EiRegisterParty" },
	[OADR_CREATED_PARTY_REGISTRATION] = { "oadrCreatedPartyRegistration",
	    "EiRegisterParty" },
	[OADR_CANCEL_PARTY_REGISTRATION] = { "oadrCancelPartyRegistration",
	    "EiRegisterParty" },
	[OADR_CANCELED_PARTY_REGISTRATION] = {
	    "oadrCanceledPartyRegistration", "EiRegisterParty" },
	[OADR_REQUEST_REREGISTRATION] = { "oadrRequestReregistration",
	    "EiRegisterParty" },
	[OADR_POLL] = { "oadrPoll", "OadrPoll" },
	[OADR_RESPONSE] = { "oadrResponse", NULL },
	[OADR_REQUEST_EVENT] = { "oadrRequestEvent", "EiEvent" },
	[OADR_DISTRIBUTE_EVENT] = { "oadrDistributeEvent", "EiEvent" },
	[OADR_CREATED_EVENT] = { "oadrCreatedEvent", "EiEvent" },
	[OADR_REGISTER_REPORT] = { "oadrRegisterReport", "EiReport" },
	[OADR_REGISTERED_REPORT] = { "oadrRegisteredReport", "EiReport" },
	[OADR_CREATE_REPORT] = { "oadrCreateReport", "EiReport" },
	[OADR_CREATED_REPORT] = { "oadrCreatedReport", "EiReport" },
	[OADR_UPDATE_REPORT] = { "oadrUpdateReport", "EiReport" },
	[OADR_UPDATED_REPORT] = { "oadrUpdatedReport", "EiReport" },
	[OADR_CANCEL_REPORT] = { "oadrCancelReport", "EiReport" },
	[OADR_CANCELED_REPORT] = { "oadrCanceledReport", "EiReport" },
	[OADR_CREATE_OPT] = { "oadrCreateOpt", "EiOpt" },
	[OADR_CREATED_OPT] = { "oadrCreatedOpt", "EiOpt" },
	[OADR_CANCEL_OPT] = { "oadrCancelOpt", "EiOpt" },
	[OADR_CANCELED_OPT] = { "oadrCanceledOpt", "EiOpt" },
};

#define S struct oadr_msg
#define MSG(name_, t, k) \
	{ .name = name_, .ns = OADR_NS_OADR, .kind = OADR_K_SUB, .min = 1, \
	  .max = 1, .off = O(u), .aux = OADR_NOAUX, .choice = 1, .root = 1, \
	  .tag_rel = (long)offsetof(S, type) - (long)offsetof(S, u), \
	  .tag = OADR_##k, .sub = &t }
#define MESSAGES \
	MSG("oadrDistributeEvent", t_distribute, DISTRIBUTE_EVENT), \
	MSG("oadrCreatedEvent", t_created_event, CREATED_EVENT), \
	MSG("oadrRequestEvent", t_request_event, REQUEST_EVENT), \
	MSG("oadrResponse", t_response_msg, RESPONSE), \
	MSG("oadrCancelOpt", t_cancel_opt, CANCEL_OPT), \
	MSG("oadrCanceledOpt", t_canceled_opt, CANCELED_OPT), \
	MSG("oadrCreateOpt", t_create_opt, CREATE_OPT), \
	MSG("oadrCreatedOpt", t_created_opt, CREATED_OPT), \
	MSG("oadrCancelReport", t_cancel_report, CANCEL_REPORT), \
	MSG("oadrCanceledReport", t_pending, CANCELED_REPORT), \
	MSG("oadrCreateReport", t_create_report, CREATE_REPORT), \
	MSG("oadrCreatedReport", t_pending, CREATED_REPORT), \
	MSG("oadrRegisterReport", t_register_report, REGISTER_REPORT), \
	MSG("oadrRegisteredReport", t_registered_report, REGISTERED_REPORT), \
	MSG("oadrUpdateReport", t_update_report, UPDATE_REPORT), \
	MSG("oadrUpdatedReport", t_updated_report, UPDATED_REPORT), \
	MSG("oadrCancelPartyRegistration", t_cancel_party, \
	    CANCEL_PARTY_REGISTRATION), \
	MSG("oadrCanceledPartyRegistration", t_canceled_party, \
	    CANCELED_PARTY_REGISTRATION), \
	MSG("oadrCreatePartyRegistration", t_create_party, \
	    CREATE_PARTY_REGISTRATION), \
	MSG("oadrCreatedPartyRegistration", t_created_party, \
	    CREATED_PARTY_REGISTRATION), \
	MSG("oadrRequestReregistration", t_reregistration, \
	    REQUEST_REREGISTRATION), \
	MSG("oadrQueryRegistration", t_query_registration, \
	    QUERY_REGISTRATION), \
	MSG("oadrPoll", t_poll, POLL)

static const struct oadr_field f_signed[] = {
	MESSAGES,
};
TYPE(t_signed, "oadrSignedObject", f_signed);

static const struct oadr_field f_payload[] = {
	{ .name = "Signature", .ns = OADR_NS_DS, .kind = OADR_K_SKIP,
	  .min = 0, .max = 1, .off = 0, .aux = O(signed_),
	  .tag_rel = OADR_NOTAG },
	SUB(OADR, "oadrSignedObject", t_signed, 0),
};
const struct oadr_type oadr_type_payload = { "oadrPayload", sizeof(S),
	f_payload, sizeof(f_payload) / sizeof(f_payload[0]) };

static const struct oadr_field f_doc[] = {
	{ .name = "oadrPayload", .ns = OADR_NS_OADR, .kind = OADR_K_SUB,
	  .min = 1, .max = 1, .off = 0, .aux = O(wrapped), .choice = 1,
	  .tag_rel = OADR_NOTAG, .sub = &oadr_type_payload },
	MESSAGES,
};
const struct oadr_type oadr_type_doc = { "document", sizeof(S), f_doc,
	sizeof(f_doc) / sizeof(f_doc[0]) };
#undef S
