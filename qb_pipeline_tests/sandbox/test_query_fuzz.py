"""The sandbox's query parser never answers 500: any malformed query gets QuickBooks' 4000-range fault.

Mutations of valid queries (characters dropped, inserted, swapped; tokens repeated; text cut short),
seeded so a failure is repeatable: 3,000 in-process in every run (50,000 with --slow), and a few
hundred over HTTP, where only 200 and 400 may come back.
"""

from __future__ import annotations

import random
import re

import requests

from qb_pipeline.sandbox.query import QueryError, parse_query
from qb_pipeline.sandbox.query_rows import execute
from qb_pipeline_tests.sandbox.test_query import ROWS

VALID = [
    "SELECT * FROM Customer",
    "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)",
    "select * from customer where DisplayName = 'O\\'Brien' and Active = false",
    "SELECT * FROM Customer WHERE Balance >= '5.00' ORDERBY Id DESC STARTPOSITION 2 MAXRESULTS 10",
    "SELECT * FROM Invoice WHERE DocNumber IN ('SO-1', 'SO-2') MAXRESULTS 1000",
    "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '2026-11-01T00:00:00-08:00' ORDER BY Balance",
    "SELECT * FROM Item WHERE Name LIKE '%ock%' ORDERBY Name ASC, Id",
    "SELECT * FROM Vendor WHERE DisplayName = 'x';",
]
ALPHABET = list("'\"\\()*,;=<>!%.-+ 0123456789aZ_\t\n€é") + [
    "IN",
    "AND",
    "OR",
    "ORDERBY",
    "MAXRESULTS",
    "STARTPOSITION",
    "1.5",
    "-1",
    "99999999999999999999",
]


NUMBERISH = ["1.5", "-1", "0", "1e3", "99999999999999999999", "0x10", "٣", "1_000", "'10'", ""]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        position = rng.randint(0, len(text))
        action = rng.randrange(6)
        if action == 5:  # a number where the grammar wants one: 1.5, a huge one, a non-ASCII digit…
            numbers = re.findall(r"\d+", text)
            if numbers:
                text = text.replace(rng.choice(numbers), rng.choice(NUMBERISH), 1)
            continue
        if action == 0 and text:
            text = text[:position] + text[position + 1 :]
        elif action == 1:
            text = text[:position] + rng.choice(ALPHABET) + text[position:]
        elif action == 2:
            words = text.split(" ")
            i, j = rng.randrange(len(words)), rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
            text = " ".join(words)
        elif action == 3:
            words = text.split(" ")
            i = rng.randrange(len(words))
            text = " ".join(words[: i + 1] + words[i:])
        else:
            text = text[:position]
    return text


def cases(count: int, seed: int = 20261126) -> list[str]:
    rng = random.Random(seed)
    return [mutate(rng, rng.choice(VALID)) for _ in range(count)]


def test_malformed_queries_raise_only_query_errors(request):
    count = 50_000 if request.config.getoption("--slow") else 3_000
    crashes = []
    for text in cases(count):
        try:
            execute(parse_query(text), ROWS)
        except QueryError as error:
            assert error.code in ("4000", "4001"), (text, error.code)
        except Exception as error:  # would have been an HTTP 500
            crashes.append(f"{text!r}: {type(error).__name__}: {error}")
    assert crashes == [], f"{len(crashes)} of {count} mutated queries crashed the parser:\n" + "\n".join(crashes[:20])


def test_over_http_a_malformed_query_is_a_400_never_a_500(sandbox):
    qb = sandbox.qb_client()
    url = f"{sandbox.connection['api_base_url']}/company/{sandbox.realm_id}/query"
    headers = {
        "Authorization": f"Bearer {qb.session.access_token}",
        "Accept": "application/json",
        "Content-Type": "application/text",
    }
    with requests.Session() as http:
        statuses = {}
        for text in cases(300, seed=7):
            answer = http.post(url, data=text.encode(), headers=headers, timeout=10)
            statuses.setdefault(answer.status_code, text)
            if answer.status_code == 400:
                assert answer.json()["Fault"]["Error"][0]["code"] in ("4000", "4001"), text
    assert set(statuses) <= {200, 400}, statuses
