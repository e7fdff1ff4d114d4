"""The sandbox's QBO query language: what parses, what matches, and the errors QBO gives."""

from decimal import Decimal

import pytest
from quickbooks.utils import build_where_clause

from qb_pipeline.sandbox.query import QueryError, parse_query
from qb_pipeline.sandbox.query_rows import execute

ROWS = [
    {
        "Id": "1",
        "DisplayName": "O'Brien",
        "Active": True,
        "Balance": Decimal("10.00"),
        "MetaData": {"LastUpdatedTime": "2026-11-01T02:00:00-08:00"},
    },
    {
        "Id": "2",
        "DisplayName": "a\\b",
        "Active": True,
        "Balance": Decimal("5.50"),
        "MetaData": {"LastUpdatedTime": "2026-11-01T09:59:59+00:00"},
    },
    {
        "Id": "10",
        "DisplayName": "Zed",
        "Active": False,
        "Balance": Decimal("0"),
        "MetaData": {"LastUpdatedTime": "2026-11-01T11:00:00+01:00"},
    },
]


def ids(text):
    return [r["Id"] for r in execute(parse_query(text), ROWS).rows]


def test_escaped_quotes_and_backslashes_as_python_quickbooks_writes_them():
    assert ids("SELECT * FROM Customer WHERE " + build_where_clause(DisplayName="O'Brien")) == ["1"]
    assert ids("SELECT * FROM Customer WHERE DisplayName = 'a\\\\b'") == ["2"]


def test_keywords_entities_and_properties_are_case_insensitive():
    assert ids("select * from CUSTOMER where displayname = 'zed' and active = FALSE") == ["10"]


def test_both_order_by_spellings_and_numeric_ids():
    assert ids("SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id DESC") == ["10", "2", "1"]
    assert ids("SELECT * FROM Customer WHERE Active IN (true, false) ORDER BY Balance") == ["10", "2", "1"]


def test_active_only_by_default_for_name_lists():
    assert ids("SELECT * FROM Customer") == ["1", "2"]
    assert execute(parse_query("SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"), ROWS).total == 3


def test_timestamps_compare_as_instants_across_offsets():
    # 02:00-08:00 = 10:00Z ; 09:59:59Z ; 11:00+01:00 = 10:00Z
    text = "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2026-11-01T10:00:00Z' AND Active IN (true,false)"
    assert ids(text) == ["1", "10"]


def test_a_time_without_offset_is_the_companys_pacific_time_of_that_date():
    # 09:59:59 in July is PDT (16:59:59Z), in November PST (17:59:59Z): each date keeps its own offset
    summer = "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '2026-07-01T09:59:59' AND Active IN (true,false)"
    rows = [{**ROWS[0], "MetaData": {"LastUpdatedTime": "2026-07-01T17:00:00Z"}}]
    assert [r["Id"] for r in execute(parse_query(summer), rows).rows] == ["1"]
    winter = summer.replace("2026-07-01", "2026-11-21")
    rows = [{**ROWS[0], "MetaData": {"LastUpdatedTime": "2026-11-21T17:00:00Z"}}]
    assert [r["Id"] for r in execute(parse_query(winter), rows).rows] == []


def test_operators_like_and_in():
    assert ids("SELECT * FROM Customer WHERE DisplayName LIKE 'o%'") == ["1"]
    assert ids("SELECT * FROM Customer WHERE Balance > 5 AND Balance <= 10") == ["1", "2"]
    assert ids("SELECT * FROM Customer WHERE Id IN ('2', '10') AND Active IN (true, false)") == ["2", "10"]


def test_paging_positions_and_caps():
    rows = [{"Id": str(i), "Name": f"I{i}", "Active": True} for i in range(1, 2501)]
    last = execute(parse_query("SELECT * FROM Item STARTPOSITION 2001 MAXRESULTS 1000"), rows)
    assert [r["Id"] for r in last.rows][:1] == ["2001"] and len(last.rows) == 500
    assert len(execute(parse_query("SELECT * FROM Item MAXRESULTS 5000"), rows).rows) == 1000
    assert len(execute(parse_query("SELECT * FROM Item"), rows).rows) == 100


@pytest.mark.parametrize(
    "text, code",
    [
        ("SELECT * Customer", "4000"),
        ("SELECT * FROM Customer WHERE DisplayName = 'a' OR Active = true", "4000"),
        ("SELECT * FROM Customer WHERE DisplayName = 'unterminated", "4000"),
        ("SELECT * FROM Customer MAXRESULTS ten", "4000"),
        ("SELECT Id, DisplayName FROM Customer", "4000"),
        ("SELECT * FROM Customer WHERE Shoe = 'x'", "4001"),
        ("SELECT * FROM Vendorz", "4001"),
    ],
)
def test_malformed_queries_get_qbo_codes(text, code):
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert caught.value.code == code
