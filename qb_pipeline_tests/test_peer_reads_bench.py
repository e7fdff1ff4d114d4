"""The peer-reads benchmark: what one sync of each public connector sends, as the sandbox counts it.

Small companies; only correctness is asserted (the calls counted), never a time.
"""

from __future__ import annotations

from benchmarks.peer_reads import AIRBYTE_ENTITIES, SINGER_ENTITIES, peer_reads

SMALL = {"customers": 60, "items": 30, "invoices": 3}
NON_EMPTY = 4  # Account (every company has some), Customer, Item, Invoice


def test_idle_syncs_read_every_stream_and_changes_cost_more_pages(sandbox):
    result = peer_reads(sandbox.url, sandbox.connection["control_token"], **SMALL)
    airbyte, singer = result["airbyte"], result["singer"]

    # Airbyte: one query per stream (a start date 29 days back is one 30-day slice), counted by the sandbox.
    assert airbyte["idle_calls"] == {"query 200": len(AIRBYTE_ENTITIES)}
    assert airbyte["idle_reads_per_day"] == 24 * airbyte["idle_reads_per_sync"]
    # After the hour's changes, customers, items and invoices each take one page more: paging stops only
    # at a page of fewer than 5 rows.
    assert airbyte["reads_per_sync_after_100_changes"] == len(AIRBYTE_ENTITIES) + 3

    # Singer: two batch rounds (`>=` re-reads the newest rows), the report (a fault here), one CDC call.
    assert singer["idle_calls"] == {"batch 200": 2, "read reports 400": 1, "cdc 200": 1}
    assert singer["idle_reads_per_sync_counting_batch_items"] == 2 * len(SINGER_ENTITIES) + 2
    assert singer["token_refreshes_per_sync"] == airbyte["token_refreshes_per_sync"] == 1


def test_an_old_start_date_makes_airbyte_rewalk_empty_streams_and_singer_cdc_refused(sandbox):
    result = peer_reads(sandbox.url, sandbox.connection["control_token"], **SMALL, start_days_ago=65)

    # Streams that never returned a row start again from start_date: three 30-day slices each, every sync.
    empty = len(AIRBYTE_ENTITIES) - NON_EMPTY
    assert result["airbyte"]["idle_reads_per_sync"] == 3 * empty + NON_EMPTY
    # The tap's changedSince stays at start_date: QuickBooks refuses a CDC over 30 days back.
    assert result["singer"]["idle_calls"]["cdc 400"] == 1
