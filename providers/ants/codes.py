"""ANTS code tables, as data, and the functions that classify one answer into a `Verdict`.

Sources (see /work/shared/seeds/): the 2018 HTTP API (status table, error table with its
`permanent` flags, `requestError.serviceException` bodies) and the newer API's three-digit
codes under their general groups.  Tables are pure data; unknown codes are classified by
their group and logged once per process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from defusedxml import DefusedXmlException, ElementTree

from providers.base import Action, CodeRow, Verdict
from providers.classify import (
    http_rows,
    index,
    log_unknown_once,
    parse_retry_after,
    retry_after_seconds,
    to_verdict,
    unknown_verdict,
)

A = Action

# ---------------------------------------------------------------- 2018 API: statuses

STATUS_GROUPS: dict[int, str] = {
    0: "ACCEPTED",
    1: "PENDING",
    2: "UNDELIVERABLE",
    3: "DELIVERED",
    4: "EXPIRED",
    5: "REJECTED",
}


def _st(code: int, name: str, group: int, action: Action, desc: str, **kw: Any) -> CodeRow:
    return CodeRow(str(code), name, action, desc, group=STATUS_GROUPS[group], **kw)


STATUS_ROWS: tuple[CodeRow, ...] = (
    # group 0 has no table in the document; id 0 comes from its send-response examples
    _st(0, "MESSAGE_ACCEPTED", 0, A.ACCEPTED, "Message is accepted.", final=False),
    _st(
        3, "PENDING_WAITING_DELIVERY", 1, A.ACCEPTED, "Sent to operator, awaiting DLR.", final=False
    ),
    _st(7, "PENDING_ENROUTE", 1, A.ACCEPTED, "Sent to the next instance (operator).", final=False),
    _st(
        26, "PENDING_ACCEPTED", 1, A.ACCEPTED, "Accepted, ready to go to the operator.", final=False
    ),
    _st(4, "UNDELIVERABLE_REJECTED_OPERATOR", 2, A.PERMANENT, "Rejected by the operator."),
    _st(9, "UNDELIVERABLE_NOT_DELIVERED", 2, A.PERMANENT, "Operator reported UNDELIVERED."),
    _st(2, "DELIVERED_TO_OPERATOR", 3, A.ACCEPTED, "Delivered to the operator."),
    _st(5, "DELIVERED_TO_HANDSET", 3, A.ACCEPTED, "Delivered to the recipient."),
    _st(15, "EXPIRED_EXPIRED", 4, A.PERMANENT, "Pending past its validity period."),
    _st(29, "EXPIRED_DLR_UNKNOWN", 4, A.PERMANENT, "Operator DLR not recognized."),
    _st(6, "REJECTED_NETWORK", 5, A.PERMANENT, "Network not covered / not set up on account."),
    _st(
        8,
        "REJECTED_PREFIX_MISSING",
        5,
        A.PERMANENT,
        "Number prefix or length not recognized.",
        suppress=True,
    ),
    _st(
        10, "REJECTED_DND", 5, A.PERMANENT, "Recipient subscribed to Do Not Disturb.", suppress=True
    ),
    _st(11, "REJECTED_SOURCE", 5, A.FATAL, "Sender ID not registered on the account."),
    _st(12, "REJECTED_NOT_ENOUGH_CREDITS", 5, A.FATAL, "Account out of credits."),
    _st(13, "REJECTED_SENDER", 5, A.FATAL, "Sender ID blacklisted on the account."),
    _st(
        14, "REJECTED_DESTINATION", 5, A.PERMANENT, "Destination number blacklisted.", suppress=True
    ),
    _st(17, "REJECTED_PREPAID_PACKAGE_EXPIRED", 5, A.FATAL, "Account credits expired."),
    _st(
        18,
        "REJECTED_DESTINATION_NOT_REGISTERED",
        5,
        A.FATAL,
        "Account limited to a single test number.",
        per_destination=True,
    ),
    _st(
        19,
        "REJECTED_ROUTE_NOT_AVAILABLE",
        5,
        A.FATAL,
        "No routes on the account.",
        per_destination=True,
    ),
    _st(
        20,
        "REJECTED_FLOODING_FILTER",
        5,
        A.THROTTLED,
        "Anti-flooding: 20 varied / 6 identical messages per number per hour.",
        retry_after=3600.0,
    ),
    _st(21, "REJECTED_SYSTEM_ERROR", 5, A.RETRY, "System error, retry submission."),
    _st(23, "REJECTED_DUPLICATE_MESSAGE_ID", 5, A.ALREADY_DONE, "Duplicate message ID."),
    _st(24, "REJECTED_INVALID_UDH", 5, A.PERMANENT, "Invalid ESM class / UDH."),
    _st(25, "REJECTED_MESSAGE_TOO_LONG", 5, A.PERMANENT, "Over 25 parts or 4000 bytes."),
    _st(51, "MISSING_TO", 5, A.PERMANENT, "The 'to' parameter is missing or empty."),
)

# ---------------------------------------------------------------- 2018 API: errors

ERROR_GROUPS: dict[int, str] = {
    0: "OK",
    1: "HANDSET_ERRORS",
    2: "USER_ERRORS",
    3: "OPERATOR_ERRORS",
}


def _er(code: int, permanent: bool, name: str, group: int, desc: str = "", **kw: Any) -> CodeRow:
    """An error row; its action follows the document's `permanent` flag unless given."""
    default = A.ACCEPTED if code == 0 else A.PERMANENT if permanent else A.RETRY
    action = kw.pop("action", default)
    text = desc or name.removeprefix("EC_").replace("_", " ").title()
    return CodeRow(
        str(code), name, action, text, group=ERROR_GROUPS[group], permanent=permanent, **kw
    )


_HANDSET_TRANSIENT: tuple[tuple[int, str], ...] = (
    (5, "EC_UNIDENTIFIED_SUBSCRIBER"),
    (6, "EC_ABSENT_SUBSCRIBER_SM"),
    (8, "EC_ROAMING_NOT_ALLOWED"),
    (13, "EC_CALL_BARRED"),
    (21, "EC_FACILITY_NOT_SUPPORTED"),
    (27, "EC_ABSENT_SUBSCRIBER"),
    (31, "EC_SUBSCRIBER_BUSY_FOR_MT_SMS"),
    (32, "EC_SM_DELIVERY_FAILURE"),
    (33, "EC_MESSAGE_WAITING_LIST_FULL"),
    (34, "EC_SYSTEM_FAILURE"),
    (35, "EC_DATA_MISSING"),
    (36, "EC_UNEXPECTED_DATA_VALUE"),
    (255, "EC_UNKNOWN_ERROR"),
    (256, "EC_SM_DF_MEMORYCAPACITYEXCEEDED"),
    (257, "EC_SM_DF_EQUIPMENTPROTOCOLERROR"),
    (258, "EC_SM_DF_EQUIPMENTNOTSM_EQUIPPED"),
    (259, "EC_SM_DF_UNKNOWNSERVICECENTRE"),
    (260, "EC_SM_DF_SC_CONGESTION"),
    (261, "EC_SM_DF_INVALIDSME_ADDRESS"),
    (262, "EC_SM_DF_SUBSCRIBERNOTSC_SUBSCRIBER"),
    (500, "EC_PROVIDER_GENERAL_ERROR"),
    (502, "EC_NO_RESPONSE"),
    (503, "EC_SERVICE_COMPLETION_FAILURE"),
    (504, "EC_UNEXPECTED_RESPONSE_FROM_PEER"),
    (507, "EC_MISTYPED_PARAMETER"),
    (508, "EC_NOT_SUPPORTED_SERVICE"),
    (509, "EC_DUPLICATED_INVOKE_ID"),
    (1024, "EC_OR_APPCONTEXTNOTSUPPORTED"),
    (1025, "EC_OR_INVALIDDESTINATIONREFERENCE"),
    (1026, "EC_OR_INVALIDORIGINATINGREFERENCE"),
    (1027, "EC_OR_ENCAPSULATEDAC_NOTSUPPORTED"),
    (1028, "EC_OR_TRANSPORTPROTECTIONNOTADEQUATE"),
    (1029, "EC_OR_NOREASONGIVEN"),
    (1030, "EC_OR_POTENTIALVERSIONINCOMPATIBILITY"),
    (1031, "EC_OR_REMOTENODENOTREACHABLE"),
    (1152, "EC_NNR_NOTRANSLATIONFORANADDRESSOFSUCHNATURE"),
    (1153, "EC_NNR_NOTRANSLATIONFORTHISSPECIFICADDRESS"),
    (1154, "EC_NNR_SUBSYSTEMCONGESTION"),
    (1155, "EC_NNR_SUBSYSTEMFAILURE"),
    (1156, "EC_NNR_UNEQUIPPEDUSER"),
    (1157, "EC_NNR_MTPFAILURE"),
    (1158, "EC_NNR_NETWORKCONGESTION"),
    (1159, "EC_NNR_UNQUALIFIED"),
    (1160, "EC_NNR_ERRORINMESSAGETRANSPORTXUDT"),
    (1161, "EC_NNR_ERRORINLOCALPROCESSINGXUDT"),
    (1162, "EC_NNR_DESTINATIONCANNOTPERFORMREASSEMBLYXUDT"),
    (1163, "EC_NNR_SCCPFAILURE"),
    (1164, "EC_NNR_HOPCOUNTERVIOLATION"),
    (1165, "EC_NNR_SEGMENTATIONNOTSUPPORTED"),
    (1166, "EC_NNR_SEGMENTATIONFAILURE"),
    (1281, "EC_UA_USERSPECIFICREASON"),
    (1282, "EC_UA_USERRESOURCELIMITATION"),
    (1283, "EC_UA_RESOURCEUNAVAILABLE"),
    (1284, "EC_UA_APPLICATIONPROCEDURECANCELLATION"),
    (1536, "EC_PA_PROVIDERMALFUNCTION"),
    (1537, "EC_PA_SUPPORTINGDIALOGORTRANSACTIONREALEASED"),
    (1538, "EC_PA_RESSOURCELIMITATION"),
    (1539, "EC_PA_MAINTENANCEACTIVITY"),
    (1540, "EC_PA_VERSIONINCOMPATIBILITY"),
    (1541, "EC_PA_ABNORMALMAPDIALOG"),
    (1792, "EC_NC_ABNORMALEVENTDETECTEDBYPEER"),
    (1793, "EC_NC_RESPONSEREJECTEDBYPEER"),
    (1794, "EC_NC_ABNORMALEVENTRECEIVEDFROMPEER"),
    (1795, "EC_NC_MESSAGECANNOTBEDELIVEREDTOPEER"),
    (1796, "EC_NC_PROVIDEROUTOFINVOKE"),
)

ERROR_ROWS: tuple[CodeRow, ...] = (
    _er(0, False, "NO_ERROR", 0, "No error."),
    # group 1 HANDSET_ERRORS: permanent ones first, then every permanent=false one
    _er(
        1, True, "EC_UNKNOWN_SUBSCRIBER", 1, "Number does not exist / not assigned.", suppress=True
    ),
    _er(9, True, "EC_ILLEGAL_SUBSCRIBER", 1, suppress=True),
    _er(11, True, "EC_TELESERVICE_NOT_PROVISIONED", 1, "Mobile service suspended by operator."),
    _er(12, True, "EC_ILLEGAL_EQUIPMENT", 1),
    *(_er(code, False, name, 1) for code, name in _HANDSET_TRANSIENT),
    # group 2 USER_ERRORS
    _er(2049, True, "EC_IMSI_BLACKLISTED", 2, "Number is blacklisted.", suppress=True),
    _er(
        2052,
        True,
        "EC_BLACKLISTED_DESTINATIONADDRESS",
        2,
        "Destination number blacklisted.",
        suppress=True,
    ),
    _er(
        2053,
        True,
        "EC_SOURCE_ADDRESS_BLACKLISTED",
        2,
        "Sender blacklisted on the account.",
        action=A.FATAL,
    ),
    _er(4096, True, "EC_INVALID_PDU_FORMAT", 2),
    _er(4100, True, "EC_MESSAGE_CANCELED", 2, "Not sent within its validity period."),
    _er(4101, True, "EC_VALIDITYEXPIRED", 2, "Not delivered within its validity period."),
    # group 3 OPERATOR_ERRORS
    _er(10, True, "EC_BEARER_SERVICE_NOT_PROVISIONED", 3),
    _er(20, False, "EC_SS_INCOMPATIBILITY", 3),
    _er(51, True, "EC_RESOURCE_LIMITATION", 3, "SS7/MAP network congestion."),
    _er(71, False, "EC_UNKNOWN_ALPHABET", 3),
    _er(501, False, "EC_INVALID_RESPONSE_RECEIVED", 3),
    _er(2048, False, "EC_TIME_OUT", 3),
    _er(
        2050,
        True,
        "EC_DEST_ADDRESS_BLACKLISTED",
        3,
        "Number on the operator's DND list.",
        suppress=True,
    ),
    _er(2051, False, "EC_INVALIDMSCADDRESS", 3, "Text blacklisted."),
    _er(4097, False, "EC_NOTSUBMITTEDTOGMSC", 3),
    _er(4102, True, "EC_NOTSUBMITTEDTOSMPPCHANNEL", 3),
)

# ---------------------------------------------------------------- newer API: three-digit codes


def _nc(code: str, group: str, action: Action, desc: str, **kw: Any) -> CodeRow:
    final = group not in ("ACCEPTED", "PENDING")
    return CodeRow(code, group, action, desc, group=group, final=final, **kw)


_U, _E, _R = "UNDELIVERED", "EXPIRED", "REJECTED"

NEW_ROWS: tuple[CodeRow, ...] = (
    # success: code 000 carries its state in `name` (see classify_code)
    _nc("000", "PENDING", A.ACCEPTED, "Success / message acknowledged by SMSC"),
    _nc("000", "DELIVERED", A.ACCEPTED, "Successfully sent to phone / complete"),
    _nc("101", "PENDING", A.ACCEPTED, "Pending - accepted by the system"),
    _nc("102", "PENDING", A.ACCEPTED, "Sent to operator / ready for the next instance"),
    _nc("COMPLETED", "COMPLETED", A.ACCEPTED, "Send to operator success"),
    # 2 - UNDELIVERED
    _nc("204", _U, A.RETRY, "System error, please retry submission"),
    _nc("206", _U, A.PERMANENT, "Malformed XML"),
    _nc("207", _U, A.FATAL, "Authentication failed"),
    _nc("208", _U, A.FATAL, "Service blocked"),
    _nc(
        "209",
        _U,
        A.PERMANENT,
        "Recipient is not a Truemove / Thailand mobile number",
        suppress=True,
    ),
    _nc("210", _U, A.FATAL, "No service found"),
    _nc("211", _U, A.RETRY, "Congestion or quota exceeded"),
    _nc("213", _U, A.RETRY, "RTEC: reserve credit system connection error"),
    _nc("214", _U, A.PERMANENT, "Message rejected by SMSC"),
    _nc("215", _U, A.PERMANENT, "Malform"),
    _nc("218", _U, A.PERMANENT, "No operator configured type"),
    _nc("219", _U, A.RETRY, "Internal error, please try later"),
    _nc("220", _U, A.RETRY, "Undefined error"),
    _nc("221", _U, A.RETRY, "PSA connection failed"),
    _nc("222", _U, A.PERMANENT, "LDAP returns record not found"),
    _nc("223", _U, A.RETRY, "No response from / no connection to LDAP"),
    _nc("224", _U, A.RETRY, "First time calling"),
    _nc("226", _U, A.PERMANENT, "Diameter - command unsupported"),
    _nc("227", _U, A.RETRY, "Diameter - unable to deliver"),
    _nc("228", _U, A.PERMANENT, "Diameter - realm not served"),
    _nc("229", _U, A.RETRY, "Diameter - too busy"),
    _nc("230", _U, A.PERMANENT, "Diameter - loop detected"),
    _nc("231", _U, A.RETRY, "Diameter - redirect indication"),
    _nc("232", _U, A.PERMANENT, "Diameter - application unsupported"),
    _nc("233", _U, A.PERMANENT, "Diameter - unknown peer"),
    _nc("234", _U, A.RETRY, "Diameter - authentication rejected"),
    _nc("235", _U, A.RETRY, "Diameter - out of space"),
    _nc("236", _U, A.RETRY, "Election lost"),
    _nc("237", _U, A.PERMANENT, "Diameter - end user service denied"),
    _nc("238", _U, A.PERMANENT, "Diameter - credit control not applicable"),
    _nc("242", _U, A.PERMANENT, "Diameter - INACT positive balance"),
    _nc("243", _U, A.PERMANENT, "User never open", suppress=True),
    _nc("244", _U, A.PERMANENT, "Never used", suppress=True),
    _nc("245", _U, A.PERMANENT, "User missing claim"),
    _nc("246", _U, A.PERMANENT, "User locked"),
    _nc("247", _U, A.PERMANENT, "Voice service stopped"),
    _nc("251", _U, A.FATAL, "Member account frozen"),
    _nc("252", _U, A.FATAL, "Member account reached monthly limit"),
    _nc("253", _U, A.PERMANENT, "Called member account frozen"),
    _nc("254", _U, A.PERMANENT, "Called member account reached monthly limit"),
    _nc("255", _U, A.RETRY, "Diameter dealt"),
    _nc("259", _U, A.PERMANENT, "Diameter invalid AVP bit combo"),
    _nc("260", _U, A.PERMANENT, "Diameter no common security"),
    _nc("261", _U, A.PERMANENT, "Diameter user unknown", suppress=True),
    _nc("262", _U, A.PERMANENT, "Diameter rating failed"),
    _nc("263", _U, A.RETRY, "Diameter link down and let go"),
    _nc("265", _U, A.RETRY, "Connection time out (BS access failed)"),
    _nc("266", _U, A.RETRY, "Other error"),
    _nc("267", _U, A.PERMANENT, "Message has been blocked (AntiSpam)"),
    _nc("268", _U, A.RETRY, "Memory capacity exceeded"),
    _nc("269", _U, A.PERMANENT, "Subscriber error or not supported"),
    _nc("270", _U, A.PERMANENT, "Unknown subscriber", suppress=True),
    _nc("271", _U, A.PERMANENT, "Subscriber barring"),
    _nc("272", _U, A.PERMANENT, "Undefined subscriber", suppress=True),
    _nc("273", _U, A.PERMANENT, "Telecommunication service not supported"),
    _nc("274", _U, A.FATAL, "Admin has not configured a gateway"),
    _nc("275", _U, A.RETRY, "System error"),
    _nc("276", _U, A.PERMANENT, "Teleservice not provisioned"),
    _nc("277", _U, A.RETRY, "Message waiting list is full"),
    _nc("278", _U, A.RETRY, "MS error"),
    _nc("279", _U, A.PERMANENT, "MS not equipped"),
    _nc("280", _U, A.RETRY, "Phone memory full"),
    _nc("281", _U, A.RETRY, "Subscriber busy"),
    _nc("282", _U, A.RETRY, "Error in MS"),
    _nc("283", _U, A.RETRY, "Unspecified error cause"),
    _nc("284", _U, A.RETRY, "Too many SMs buffered in the SMC for the subscriber"),
    _nc("285", _U, A.RETRY, "Submit SMS to SMSC timeout"),
    _nc("412", _U, A.PERMANENT, "Message is empty"),
    _nc("413", _U, A.FATAL, "Sender not allowed"),
    # 4 - EXPIRED
    _nc("300", _E, A.PERMANENT, "Expired: pending past validity / absent subscriber"),
    _nc("301", _E, A.PERMANENT, "Subscription to the associated service expired"),
    _nc("302", _E, A.PERMANENT, "User will expire"),
    _nc("303", _E, A.PERMANENT, "Balance low and user will expire"),
    _nc("304", _E, A.PERMANENT, "User expired"),
    _nc("305", _E, A.RETRY, "Absent subscriber or subscriber unreachable"),
    _nc("306", _E, A.RETRY, "Mobile switched off"),
    _nc("307", _E, A.RETRY, "Sending SM fails"),
    # 5 - REJECTED
    _nc("200", _R, A.FATAL, "Credit not enough: account out of credits"),
    _nc("201", _R, A.PERMANENT, "Number is blacklisted on the ANTS account", suppress=True),
    _nc("202", _R, A.ALREADY_DONE, "Duplicate: request rejected due to duplicate"),
    _nc("203", _R, A.PERMANENT, "Cancelled by user"),
    _nc("212", _R, A.FATAL, "Not enough credit, please top up"),
    _nc("216", _R, A.PERMANENT, "The recipient has no credit"),
    _nc("217", _R, A.PERMANENT, "Charge failed"),
    _nc("225", _R, A.PERMANENT, "Balance has little money"),
    _nc("239", _R, A.PERMANENT, "Diameter - insufficient balance"),
    _nc("240", _R, A.PERMANENT, "Diameter - INACT negative balance"),
    _nc("241", _R, A.PERMANENT, "Diameter - insufficient balance roaming"),
    _nc("248", _R, A.PERMANENT, "User invalid", suppress=True),
    _nc("249", _R, A.PERMANENT, "Blacklist", suppress=True),
    _nc("250", _R, A.PERMANENT, "Balance is zero"),
    _nc("256", _R, A.PERMANENT, "Diameter user blocked"),
    _nc("257", _R, A.PERMANENT, "Diameter user block activation"),
    _nc("258", _R, A.PERMANENT, "Diameter call destination blocked", suppress=True),
    _nc("264", _R, A.RETRY, "Diameter link down and block"),
    _nc("400", _R, A.FATAL, "INVALID Acct: account number expired / inactive"),
    _nc("402", _R, A.PERMANENT, "Invalid number: formatted incorrectly", suppress=True),
    _nc("403", _R, A.FATAL, "Invalid service id in the request"),
    _nc("404", _R, A.PERMANENT, "Invalid MSISDN number", suppress=True),
    _nc("405", _R, A.PERMANENT, "Format error"),
    _nc("406", _R, A.PERMANENT, "Invalid input format"),
    _nc("407", _R, A.PERMANENT, "Message rejected by SMSC"),
    _nc("408", _R, A.PERMANENT, "Diameter invalid HDR bits"),
    _nc("409", _R, A.PERMANENT, "Diameter invalid AVP bits"),
    _nc("410", _R, A.PERMANENT, "Message rejected by SMSC"),
    _nc("411", _R, A.FATAL, "Invalid sender / cannot read file"),
    _nc("413", _R, A.FATAL, "Sender not allowed"),
    _nc("414", _R, A.PERMANENT, "Invalid mobile phone: barred IMEI", suppress=True),
)

SUCCESS_CODES = frozenset({"000", "COMPLETED"})

# ---------------------------------------------------------------- HTTP statuses (whole request)

HTTP_ROWS: tuple[CodeRow, ...] = (
    # 400: refused for the destinations it names, else for the request (see sender.check)
    CodeRow("400", "BAD_REQUEST", A.PERMANENT, "The request is invalid"),
    *http_rows("ANTS_BASE_URL"),
)

STATUS_BY_ID: dict[str, CodeRow] = index(STATUS_ROWS)
ERROR_BY_ID: dict[str, CodeRow] = index(ERROR_ROWS)
NEW_BY_CODE: dict[str, CodeRow] = index(r for r in NEW_ROWS if r.code not in SUCCESS_CODES)
HTTP_BY_STATUS: dict[str, CodeRow] = index(HTTP_ROWS)

# ---------------------------------------------------------------- groups -> states / actions


# an unknown code is classified by its group
ACTION_BY_GROUP_ID: dict[int, Action] = {
    0: A.ACCEPTED,
    1: A.ACCEPTED,
    2: A.PERMANENT,
    3: A.ACCEPTED,
    4: A.PERMANENT,
    5: A.PERMANENT,
}

ACTION_BY_GROUP_NAME: dict[str, Action] = {
    "ACCEPTED": A.ACCEPTED,
    "PENDING": A.ACCEPTED,
    "DELIVERED": A.ACCEPTED,
    "COMPLETED": A.ACCEPTED,
    "COMPLATED": A.ACCEPTED,
    "UNDELIVERED": A.RETRY,
    "UNDELIVERABLE": A.RETRY,
    "EXPIRED": A.PERMANENT,
    "REJECTED": A.PERMANENT,
}

COVERAGE: dict[str, int] = {
    "ants_2018_status": len(STATUS_BY_ID),
    "ants_2018_error": len(ERROR_BY_ID),
    "ants_new_codes": len(NEW_BY_CODE) + len(SUCCESS_CODES),
    "ants_new_rows": len(NEW_ROWS),
    "ants_http": len(HTTP_BY_STATUS),
}

# ---------------------------------------------------------------- classification


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _flag(value: object) -> bool | None:
    """A `permanent` flag from JSON (bool) or XML (text); None when absent or unclear."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(_text(value).lower())


def classify_status(status: Mapping[str, Any], error: Mapping[str, Any] | None = None) -> Verdict:
    """Classify a 2018-format `status` (and optional `error`) of one destination."""
    verdict = _status_verdict(status)
    return _apply_error(verdict, error) if error else verdict


def _status_verdict(status: Mapping[str, Any]) -> Verdict:
    sid = _int(status.get("id"))
    row = STATUS_BY_ID.get(str(sid))
    if row is not None:
        return to_verdict(row)
    gid = _int(status.get("groupId"))
    code = _text(status.get("id"))
    log_unknown_once("ants-2018-status", code, f"groupId={gid}")
    action = ACTION_BY_GROUP_ID.get(gid, A.RETRY) if gid is not None else A.RETRY
    return unknown_verdict(action, code, _text(status.get("name")), f"groupId {gid}")


def _apply_error(verdict: Verdict, error: Mapping[str, Any]) -> Verdict:
    """The error's `permanent` flag (else its table row's) decides RETRY vs PERMANENT."""
    eid = _int(error.get("id"))
    if eid in (None, 0):
        return verdict
    row = ERROR_BY_ID.get(str(eid))
    if row is None:
        log_unknown_once("ants-2018-error", str(eid), f"groupId={error.get('groupId')}")
    flag = _flag(error.get("permanent"))
    if flag is None and row is not None:
        flag = row.permanent
    if verdict.action not in (A.RETRY, A.PERMANENT) or flag is None:
        return verdict
    ename = _text(error.get("name")) or (row.name if row else str(eid))
    desc = f"{verdict.description}; error {eid} {ename}"
    if row is not None and row.action is A.FATAL:
        return Verdict(A.FATAL, verdict.code, verdict.name, desc, permanent=flag)
    if not flag:
        return Verdict(A.RETRY, verdict.code, verdict.name, desc)
    suppress = verdict.suppress or bool(row and row.suppress)
    return Verdict(A.PERMANENT, verdict.code, verdict.name, desc, True, suppress)


def classify_code(code: str | int, name: str = "") -> Verdict:
    """Classify a newer-API `status{code,name}`; `name` is the general group name."""
    raw = _text(code).upper()
    key = raw.zfill(3) if raw.isdigit() else raw
    group = _text(name).upper()
    if key in SUCCESS_CODES:
        return Verdict(A.ACCEPTED, key, group or key, "success")
    row = NEW_BY_CODE.get(key)
    if row is not None:
        return to_verdict(row, name=group or row.name)
    log_unknown_once("ants", key, f"name={group}")
    action, why = _new_fallback(key, group)
    return unknown_verdict(action, key, group, why)


def _new_fallback(code: str, group: str) -> tuple[Action, str]:
    if group in ACTION_BY_GROUP_NAME:
        return ACTION_BY_GROUP_NAME[group], f"group {group}"
    head = code[:1] if code.isdigit() else ""
    by_range = {"1": A.ACCEPTED, "3": A.PERMANENT, "4": A.PERMANENT}
    return by_range.get(head, A.RETRY), f"range {head or '?'}xx"


def service_exception(body: bytes) -> tuple[str, str]:
    """(messageId, text) of a `requestError.serviceException` body, JSON or XML."""
    if not body:
        return "", ""
    try:
        data = json.loads(body)
        exc = data["requestError"]["serviceException"]
        return _text(exc.get("messageId")), _text(exc.get("text"))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException):
        return "", body[:200].decode("utf-8", "replace").strip()
    return _text(root.findtext(".//messageId")), _text(root.findtext(".//text"))


def classify_http(status: int, body: bytes = b"", retry_after: str | None = None) -> Verdict | None:
    """Classify a whole-request HTTP answer; None when it is a 2xx (read the body)."""
    if 200 <= status < 300:
        return None
    row = HTTP_BY_STATUS.get(str(status)) or _http_fallback(status)
    msg_id, text = service_exception(body)
    desc = text or row.description
    wait: float | None = None
    if row.action is A.THROTTLED:
        wait = parse_retry_after(retry_after, row.retry_after or 1.0)
    elif row.action is A.RETRY:
        wait = retry_after_seconds(retry_after)
    return to_verdict(row, name=msg_id or row.name, description=desc, retry_after=wait)


def _http_fallback(status: int) -> CodeRow:
    if 400 <= status < 500:  # a request refused as a whole: it cannot succeed as configured
        return CodeRow(str(status), f"HTTP_{status}", A.FATAL, "client error")
    return CodeRow(str(status), f"HTTP_{status}", A.RETRY, "unexpected HTTP status")
