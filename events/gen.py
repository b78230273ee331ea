#!/usr/bin/env python3
"""Generate API Gateway fixtures from the Tencent callback fixtures.

Inputs (hand-maintained, the source of truth):
  events/tencent/v1/*.json    callback bodies, byte-exact as Tencent POSTs them
  events/tencent/v1/index.json  [{"file", "query", "scenario"}, ...]

  events/tencent/v4/*.json, index.json   the same for the 2025 "v4" callbacks (Call.CallbackAfter*)

Outputs (generated, never edit by hand):
  events/apigw/v1/<file>             API Gateway HTTP API payload format 2.0 request events
  events/apigw/v1/normal_end.base64.json   the same with a base64 body / isBase64Encoded true
  events/apigw/v4/<file>             API Gateway events wrapping the v4 callbacks

The inputs are validated first (contract of shared/reference/tencent-callkit.md §1, §2, §3.5).
Output is deterministic: every "random" value is derived from the file name with SHA-256.

Usage:
  python3 events/gen.py          validate, then (re)write events/apigw/v1/
  python3 events/gen.py --check  validate and fail if events/apigw/v1/ is not up to date

Python 3 standard library only.
"""

import base64
import hashlib
import json
import os
import sys
from datetime import datetime, timezone
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_DIR = os.path.join(HERE, "tencent", "v1")
OUT_DIR = os.path.join(HERE, "apigw", "v1")
INDEX = os.path.join(SRC_DIR, "index.json")
V4_SRC_DIR = os.path.join(HERE, "tencent", "v4")
V4_OUT_DIR = os.path.join(HERE, "apigw", "v4")
V4_QUERY_ORDER = ["SdkAppid", "CallbackCommand", "contenttype", "ClientIP", "OptPlatform"]
V4_COMMANDS = ["Call.CallbackAfterStartCall", "Call.CallbackAfterEndCall", "Call.CallbackAfterMemberChanged"]

# --- API Gateway constants (fictitious account / API) ---------------------------------
ACCOUNT_ID = "123456789012"
API_ID = "abc123"
REGION = "us-east-1"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
ROUTE_KEY = "POST /callback"
RAW_PATH = "/callback"
STAGE = "$default"
# Tencent does not document its callback client. A generic Go HTTP client is assumed;
# it also sends "Accept-Encoding: gzip". Receivers must not depend on either.
USER_AGENT = "Go-http-client/1.1"
# Egress addresses of Tencent's callback servers (TEST-NET-1). This is the TCP peer of
# API Gateway, NOT the app user's `clientip` query parameter.
TENCENT_EGRESS = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"]
BASE64_VARIANT = ("normal_end.json", "normal_end.base64.json")

# --- Tencent contract ---------------------------------------------------------------------
QUERY_ORDER = ["sdkappid", "command", "contenttype", "clientip", "optplatform"]
STATUS = ["cancel", "reject", "not_answer", "normal_end", "call_busy", "interrupt"]
EVENTS = [
    "caller_start_call", "caller_call_accepted", "caller_call_missed", "caller_call_rejected",
    "caller_call_busy", "caller_cancel_call", "caller_call_failed", "caller_call_end",
    "caller_call_interrupted",
    "callee_receive_call", "callee_accept_call", "callee_not_answer_call", "callee_reject_call",
    "callee_ignore_call", "callee_call_canceled", "callee_call_end", "callee_call_interrupted",
    "invite_user", "join_in_group_call",
]
DOC_STATUS_COMMAND = "call_end"  # only used by Tencent's own status-callback example
PLATFORMS = {"iOS", "Android", "Web", "miniProgram"}
BODY_KEYS = ["UserId", "RoomId", "TotalNum", "MediaType", "CallType", "CallId", "Role",
             "Event", "CallResult", "EventTime", "StartCallTs", "AcceptTs", "EndTs"]
TS_KEYS = ["StartCallTs", "AcceptTs", "EndTs"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def event_name(command):
    for prefix in ("caller_", "callee_"):
        if command.startswith(prefix):
            return command[len(prefix):]
    return command


def digest(*parts):
    return hashlib.sha256("\x00".join(parts).encode()).digest()


class Invalid(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Invalid(msg)


def validate_entry(entry, raw):
    name = entry["file"]
    check(set(entry) == {"file", "query", "scenario"}, f"{name}: index keys must be file, query, scenario")
    q = entry["query"]
    check(list(q) == QUERY_ORDER, f"{name}: query keys must be {QUERY_ORDER} in that order")
    check(all(isinstance(v, str) for v in q.values()), f"{name}: query values must be strings")
    check(q["contenttype"] == "json", f"{name}: contenttype must be json")
    check(q["optplatform"] in PLATFORMS, f"{name}: optplatform {q['optplatform']!r}")
    check(raw == raw.strip(), f"{name}: body must have no leading/trailing whitespace (byte-exact wire body)")
    body = json.loads(raw.decode("utf-8"))
    check(isinstance(body, dict), f"{name}: body must be an object")
    unknown = [k for k in body if k not in BODY_KEYS]
    check(not unknown, f"{name}: unknown body keys {unknown}")
    check([k for k in BODY_KEYS if k in body] == list(body), f"{name}: body keys out of order")
    for k in ("UserId", "RoomId", "CallId", "MediaType", "CallType", "Role", "CallResult"):
        check(isinstance(body.get(k), str), f"{name}: {k} must be a string")
    for k in ["TotalNum", "EventTime"] + [k for k in TS_KEYS if k in body]:
        check(type(body.get(k)) is int, f"{name}: {k} must be an integer")
    check(all(k in body for k in TS_KEYS) or not any(k in body for k in TS_KEYS),
          f"{name}: StartCallTs/AcceptTs/EndTs must be all present or all absent")

    cmd = q["command"]
    doc = entry["scenario"] == "doc-example"
    if cmd in STATUS or cmd == DOC_STATUS_COMMAND:
        check(cmd != DOC_STATUS_COMMAND or doc, f"{name}: command call_end is reserved for the doc example")
        check("Event" not in body, f"{name}: status callbacks have no Event")
        check(body["CallResult"] == (cmd if cmd in STATUS else "normal_end"),
              f"{name}: CallResult {body['CallResult']!r} does not match command {cmd}")
    else:
        check(cmd in EVENTS, f"{name}: unknown command {cmd!r}")
        check(body.get("Event") == event_name(cmd), f"{name}: Event must be {event_name(cmd)!r}")
        if cmd.startswith("caller_"):
            check(body["Role"] == "caller", f"{name}: Role must be caller")
        if cmd.startswith("callee_"):
            check(body["Role"] == "callee", f"{name}: Role must be callee")
    if not doc:
        check(name == cmd + ".json", f"{name}: file must be named <command>.json")
        check(q["sdkappid"] == "1400000001", f"{name}: sdkappid must be 1400000001")
        if cmd == "normal_end":
            s, a, e = (body[k] for k in TS_KEYS)
            check(0 < s <= a <= e <= body["EventTime"], f"{name}: need StartCallTs <= AcceptTs <= EndTs <= EventTime")
        else:
            check(all(body.get(k, 0) == 0 for k in TS_KEYS), f"{name}: StartCallTs/AcceptTs/EndTs must be 0 or absent")
    return body


def load_inputs():
    with open(INDEX, "rb") as f:
        index = json.load(f)
    check(isinstance(index, list) and index, "index.json must be a non-empty array")
    names = [e.get("file") for e in index]
    check(len(names) == len(set(names)), "index.json lists a file twice")
    on_disk = sorted(f for f in os.listdir(SRC_DIR) if f.endswith(".json") and f != "index.json")
    check(sorted(names) == on_disk,
          f"index.json and tencent/v1 differ: missing {sorted(set(on_disk) - set(names))}, "
          f"extra {sorted(set(names) - set(on_disk))}")
    commands = {e["query"]["command"] for e in index}
    missing = [c for c in STATUS + EVENTS if c not in commands]
    check(not missing, f"no fixture for commands {missing}")

    items, last = [], {}
    for entry in index:
        with open(os.path.join(SRC_DIR, entry["file"]), "rb") as f:
            raw = f.read()
        body = validate_entry(entry, raw)
        scen = entry["scenario"]
        if scen != "doc-example":  # index order is the timeline of each scenario
            prev = last.get(scen)
            if prev:
                check(body["EventTime"] >= prev["EventTime"], f"{entry['file']}: EventTime goes backwards in {scen}")
                for k in ("CallId", "RoomId", "MediaType", "CallType"):
                    check(body[k] == prev[k], f"{entry['file']}: {k} differs within scenario {scen}")
            last[scen] = body
        items.append((entry, raw, body))
    return items


def request_id(name):
    """API Gateway style request id, e.g. "JkVb3gD1IAMEb6Q=" (15 alphanumerics + '=')."""
    n = 0
    while True:
        rid = base64.b64encode(digest("requestId", name, str(n))[:11]).decode()
        if rid[:-1].isalnum():
            return rid
        n += 1


def apigw_event(out_name, entry, raw, body, b64, query_order=None):
    query_order = query_order or QUERY_ORDER
    q = entry["query"]
    h = digest("event", out_name)
    # Received shortly after the (latest) timestamp in the body; the doc example's status
    # EventTime lacks a digit, so EndTs is used when it is later. v4 times are milliseconds.
    if query_order is V4_QUERY_ORDER:
        secs = body["EventTime"] // 1000
    else:
        secs = max(body["EventTime"], body.get("EndTs", 0))
    epoch_ms = secs * 1000 + 40 + int.from_bytes(h[:2], "big") % 900
    t = datetime.fromtimestamp(epoch_ms // 1000, tz=timezone.utc)
    time_str = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"
    source_ip = TENCENT_EGRESS[h[2] % len(TENCENT_EGRESS)]
    trace = f"Root=1-{epoch_ms // 1000:08x}-{digest('trace', out_name)[:12].hex()}"
    text = raw.decode("utf-8")
    return {
        "version": "2.0",
        "routeKey": ROUTE_KEY,
        "rawPath": RAW_PATH,
        "rawQueryString": "&".join(f"{quote(k, safe='')}={quote(q[k], safe='')}" for k in query_order),
        "headers": {
            "accept-encoding": "gzip",
            "content-length": str(len(raw)),
            "content-type": "application/json",
            "host": DOMAIN,
            "user-agent": USER_AGENT,
            "x-amzn-trace-id": trace,
            "x-forwarded-for": source_ip,
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "queryStringParameters": {k: q[k] for k in query_order},
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": RAW_PATH,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": USER_AGENT,
            },
            "requestId": request_id(out_name),
            "routeKey": ROUTE_KEY,
            "stage": STAGE,
            "time": time_str,
            "timeEpoch": epoch_ms,
        },
        "body": base64.b64encode(raw).decode() if b64 else text,
        "isBase64Encoded": b64,
    }


def render(items):
    out = {}
    for entry, raw, body in items:
        variants = [(entry["file"], False)]
        if entry["file"] == BASE64_VARIANT[0]:
            variants.append((BASE64_VARIANT[1], True))
        for out_name, b64 in variants:
            ev = apigw_event(out_name, entry, raw, body, b64)
            out[out_name] = json.dumps(ev, indent=2) + "\n"
    ids = [json.loads(s)["requestContext"]["requestId"] for s in out.values()]
    check(len(ids) == len(set(ids)), "requestId collision")
    return out


def load_v4():
    """The v4 sources: each listed file parses, its body's CallbackCommand and the query's
    agree, and EventTime is in milliseconds."""
    with open(os.path.join(V4_SRC_DIR, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    names = [e["file"] for e in index]
    on_disk = sorted(f for f in os.listdir(V4_SRC_DIR) if f.endswith(".json") and f != "index.json")
    check(sorted(names) == on_disk, f"tencent/v4 index.json and files differ: {sorted(names)} vs {on_disk}")
    items = []
    for e in index:
        with open(os.path.join(V4_SRC_DIR, e["file"]), "rb") as f:
            raw = f.read()
        body = json.loads(raw)
        check(sorted(e["query"]) == sorted(V4_QUERY_ORDER), f"{e['file']}: query must have exactly {V4_QUERY_ORDER}")
        check(e["query"]["CallbackCommand"] in V4_COMMANDS, f"{e['file']}: unknown CallbackCommand")
        check(body.get("CallbackCommand") == e["query"]["CallbackCommand"], f"{e['file']}: body and query commands differ")
        check(isinstance(body.get("EventTime"), int) and body["EventTime"] > 10**11, f"{e['file']}: EventTime must be milliseconds")
        items.append((e, raw, body))
    return items


def render_v4(items):
    out = {}
    for entry, raw, body in items:
        ev = apigw_event(entry["file"], entry, raw, body, False, V4_QUERY_ORDER)
        out[entry["file"]] = json.dumps(ev, indent=2) + "\n"
    return out


def sync(out_dir, out, check_only):
    """Writes (or checks) one output directory; returns the names changed and stale."""
    existing = sorted(f for f in os.listdir(out_dir) if f.endswith(".json")) if os.path.isdir(out_dir) else []
    stale = [f for f in existing if f not in out]
    changed = []
    for name, text in sorted(out.items()):
        try:
            with open(os.path.join(out_dir, name), encoding="utf-8") as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if not same:
            changed.append(name)
    if not check_only:
        os.makedirs(out_dir, exist_ok=True)
        for name in stale:
            os.remove(os.path.join(out_dir, name))
        for name in changed:
            with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="\n") as f:
                f.write(out[name])
    return changed, stale


def main(argv):
    check_only = argv[1:] == ["--check"]
    if argv[1:] and not check_only:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        out = render(load_inputs())
        out_v4 = render_v4(load_v4())
    except (Invalid, ValueError, KeyError, OSError) as e:
        print(f"gen.py: invalid input: {e}", file=sys.stderr)
        return 1
    changed_v4, stale_v4 = sync(V4_OUT_DIR, out_v4, check_only)
    if check_only and (changed_v4 or stale_v4):
        print(f"gen.py: events/apigw/v4 is out of date (changed {changed_v4}, stale {stale_v4}); run python3 events/gen.py", file=sys.stderr)
        return 1

    existing = sorted(f for f in os.listdir(OUT_DIR) if f.endswith(".json")) if os.path.isdir(OUT_DIR) else []
    stale = [f for f in existing if f not in out]
    changed = []
    for name, text in sorted(out.items()):
        path = os.path.join(OUT_DIR, name)
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if not same:
            changed.append(name)

    if check_only:
        if changed or stale:
            print(f"gen.py: events/apigw/v1 is out of date (changed {changed}, stale {stale}); run python3 events/gen.py",
                  file=sys.stderr)
            return 1
        print(f"gen.py: {len(out)} API Gateway events up to date")
        return 0

    os.makedirs(OUT_DIR, exist_ok=True)
    for name in stale:
        os.remove(os.path.join(OUT_DIR, name))
    for name in changed:
        with open(os.path.join(OUT_DIR, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(out[name])
    print(f"gen.py: {len(out)} API Gateway events ({len(changed)} written, {len(stale)} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
