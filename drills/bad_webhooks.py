"""Bad input at the webhook receiver: forged or misplaced signatures, redeliveries, a huge delivery,
names and companies that are not ours, bytes that are not UTF-8. Each delivery gets its HTTP answer,
and the good delivery sent beside it loses no event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable

import requests
import sqlalchemy as sa
import uvicorn

from qb_pipeline.db.models import WebhookEvent
from qb_pipeline.db.session import session_scope
from qb_pipeline.webhook_receiver import PATH, receiver_app

TOKEN, REALM = "drill-verifier-token", "9341453150"


def _sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(TOKEN.encode(), body, hashlib.sha256).digest()).decode()


def _events(prefix: str, count: int, entity: str = "customer", realm: str = REALM) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": f"{prefix}-{n}",
                "type": f"qbo.{entity}.updated.v1",
                "time": "2026-11-26T10:00:00Z",
                "intuitentityid": str(n),
                "intuitaccountid": realm,
                "data": {},
            }
            for n in range(count)
        ]
    ).encode()


def _post(url: str, body: bytes, signature: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", **({"intuit-signature": signature} if signature else {})}
    answer = requests.post(url, data=body, headers=headers, timeout=30)  # reads an early 413 as an answer
    return answer.status_code, answer.text


def webhook_case(body: bytes, signature: str | None, status: int, stored: int, *, twice: bool = False) -> Callable:
    """POST `body` (after a good delivery of 3 events); expect `status` and `stored` events of its own."""

    def run(d) -> str:
        from drills.bad_input.harness import check  # noqa: PLC0415 (the corpus imports this module)

        engine = d.fresh_db()
        with socket.socket() as probe:  # a free port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(receiver_app(engine, TOKEN, REALM), host="127.0.0.1", port=port, log_level="critical")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started:
                thread.join(0.05)
            url = f"http://127.0.0.1:{port}{PATH}"
            good = _events("good", 3)
            check(_post(url, good, _sign(good))[0] == 200, "the good delivery was not taken")
            answers = [_post(url, body, signature) for _ in range(2 if twice else 1)]
            got, text = answers[-1]
            check(got == status, f"answered {got}, expected {status}", text)
            with session_scope(engine) as session:
                keys = set(session.scalars(sa.select(WebhookEvent.event_key)))
            check({f"good-{n}" for n in range(3)} <= keys, "an event of the good delivery was lost", text)
            check(len(keys) - 3 == stored, f"{len(keys) - 3} events of this delivery stored, expected {stored}", text)
            return f"HTTP {got}: {text[:160]}"
        finally:
            server.should_exit = True
            thread.join(10)

    return run


_ONE = _events("one", 1)
_HUGE = json.dumps(
    {
        "eventNotifications": [
            {
                "realmId": REALM,
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Item", "id": str(n), "operation": "Update", "lastUpdated": "2026-11-26T10:00:00Z"}
                        for n in range(10_000)
                    ]
                },
            }
        ]
    },
    separators=(",", ":"),
).encode()

WEBHOOK_CASES = [
    ("forged signature", webhook_case(_ONE, "Zm9yZ2Vk", 401, 0)),
    ("no signature", webhook_case(_ONE, None, 401, 0)),
    ("signature over a different body", webhook_case(_ONE, _sign(b"[]"), 401, 0)),
    ("replayed delivery", webhook_case(_ONE, _sign(_ONE), 200, 1, twice=True)),
    ("10,000 events in one delivery", webhook_case(_HUGE, _sign(_HUGE), 200, 10_000)),
    (
        "unknown entity names",
        webhook_case(_events("space", 2, "spaceship"), _sign(_events("space", 2, "spaceship")), 200, 0),
    ),
    (
        "an event for another company",
        webhook_case(_events("other", 1, realm="1"), _sign(_events("other", 1, realm="1")), 200, 0),
    ),
    ("bytes that are not UTF-8", webhook_case(b"\xff\xfe[\x00", _sign(b"\xff\xfe[\x00"), 400, 0)),
    ("a body over 1 MB", webhook_case(b"[" + b" " * 1_100_000 + b"]", _sign(b"[]"), 413, 0)),
]
