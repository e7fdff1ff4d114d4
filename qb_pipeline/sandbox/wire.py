"""What the data API reads from a request and writes back, as QuickBooks does on the wire: the realm and kind
of a call, a JSON body, an answer with its headers, the records an answer carries (for the per-row latency),
and the faults QuickBooks answers with (expired token, throttled, a server error, broken bodies)."""

from __future__ import annotations

from qb_pipeline.sandbox.store import dumps, loads, qbo_time
from qb_pipeline.sandbox.validation import Fault


def rows_in(payload) -> int:
    """Records in an answer: a query page, a CDC answer, a batch answer, or one record."""
    if not isinstance(payload, dict):
        return 0
    if "QueryResponse" in payload:
        return sum(len(v) for v in payload["QueryResponse"].values() if isinstance(v, list))
    if "CDCResponse" in payload:
        return sum(
            rows_in({"QueryResponse": group})
            for answer in payload["CDCResponse"]
            for group in answer.get("QueryResponse", [])
        )
    if "BatchItemResponse" in payload:
        return sum(max(1, rows_in(item)) for item in payload["BatchItemResponse"])
    return 1 if len(payload) > 1 and "Fault" not in payload else 0


def json_body(body: bytes) -> dict:
    try:
        return loads(body.decode() or "{}")
    except (ValueError, UnicodeDecodeError):
        raise Fault("2050", "Request has invalid or unsupported property", "the body is not valid JSON") from None


async def answer(send, status: int, payload, extra: dict) -> None:
    raw = payload if isinstance(payload, bytes) else dumps(payload).encode()
    content_type = extra.pop("content-type", "application/json")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(raw)).encode()),
                *[(k.encode(), v.encode()) for k, v in extra.items()],
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def realm_in(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    return parts[1] if len(parts) >= 2 and parts[0] == "company" else None


def kind_of(method: str, path: str, params: dict) -> str:
    parts = [p for p in path.split("/") if p]
    resource = parts[2].lower() if len(parts) > 2 else "?"
    if resource in ("query", "batch", "cdc"):
        return resource
    if method == "GET":
        return f"read {resource}"
    operation = params.get("operation")
    return f"{operation} {resource}" if operation else f"write {resource}"


def auth_fault() -> dict:
    return {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired or revoked",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": qbo_time(),
    }


def fault_response(kind: str) -> tuple[int, bytes | dict, dict]:
    if kind == "429":
        return (
            429,
            {
                "Fault": {
                    "Error": [
                        {
                            "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                            "Detail": "The request limit was reached.",
                            "code": "003001",
                        }
                    ],
                    "type": "SERVICE",
                },
                "time": qbo_time(),
            },
            {},
        )
    if kind == "429-xml":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><IntuitResponse><Fault type="SERVICE"><Error code="003001">'
            "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message></Error></Fault>"
            "</IntuitResponse>"
        )
        return 429, xml.encode(), {"content-type": "application/xml"}
    if kind == "truncated":
        return 200, b'{"QueryResponse": {"Customer": [{"Id": "1", "DisplayName": "Cut', {}
    if kind == "missing-fields":
        return 200, {"time": qbo_time()}, {}
    if kind == "non-json":
        return 200, b"<html><body><h1>Service Temporarily Unavailable</h1></body></html>", {"content-type": "text/html"}
    status = int(kind)
    return (
        status,
        {
            "Fault": {
                "Error": [
                    {
                        "Message": "An application error has occurred while processing your request",
                        "Detail": f"System Failure Error: sandbox-injected {status}",
                        "code": "10000",
                    }
                ],
                "type": "SystemFault",
            },
            "time": qbo_time(),
        },
        {},
    )
