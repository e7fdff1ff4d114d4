"""A local emulator of the QuickBooks Online v3 API, speaking the real wire protocol.

The unmodified python-quickbooks and intuit-oauth clients talk to it, configured only by URLs (see
`connection.json`). It imports nothing else from qb_pipeline. Run it with
`qb-pipeline sandbox serve` (or `python -m qb_pipeline.sandbox serve`); `make dev` starts it.

What it serves
- OAuth 2 (oauth.py): discovery at /.well-known/openid_configuration, an authorize endpoint that
  approves at once, token (authorization_code, refresh_token; client credentials by HTTP Basic or form
  body), revoke. Refresh tokens rotate; a superseded one works for a grace period (30 s by default),
  then answers invalid_grant. Access tokens last 3600 s (settable). No id_token.
- /v3/company/{realm}/…  (api.py, entities.py, company.py): Customer, Item, Invoice (read, create,
  full and sparse update, invoice void/delete), Account (read-only, seeded), CompanyInfo (read by the
  realm id, as QuickBooks names it, and by query), Preferences (GET, sparse POST of its blocks), query
  (POST application/text or GET ?query=), batch (≤30 items, per-item Fault), CDC (≤30 days back, ≤1000
  objects, deleted invoices as tombstones after the active records), requestid replay per realm.
  Every entity name QuickBooks' query accepts answers (an empty QueryResponse where the sandbox holds
  no rows); CDC accepts its 24 entity types in one call; an unknown name gets QuickBooks' 4001.
- Company settings (flags of `serve`, or /_sandbox/settings): `docnumber_duplicates` refuse|allow
  (6140 or not for a second invoice with one DocNumber), `requestid_replay` (a repeated requestid
  answers the first answer, or is processed again, as reported of QuickBooks in some cases),
  `custom_txn_numbers` (= Preferences.SalesFormsPrefs.CustomTxnNumbers: when off the sandbox numbers
  invoices 1001, 1002… itself and ignores a DocNumber sent).
- Rate limits (limits.py): off, real (500/min, 10/s, 40 batch/min per realm) or scaled:F.

Choices where QuickBooks' behaviour is not documented ("unsure" in shared/docs/qbo-api.md)
- Times carry the company's offset, fixed at -08:00 (no DST); a query or CDC time without an offset
  is read in that zone (python-quickbooks' CDC helper sends none).
- 429 answers carry Retry-After unless settings say send_retry_after=false; `429-xml` faults answer
  with a non-JSON body, as seen in the wild.
- Undocumented fault codes: 2020 for a missing required field, 2050 for a value too long or
  malformed, 6000 for deleting a customer or item, 3200 (HTTP 401) for a bad or revoked token.
- A repeated requestid returns the stored answer forever (QBO's retention is unknown).
- STARTPOSITION below 1 counts as 1; MAXRESULTS above 1000 is capped at 1000 silently.
- Amounts go out as JSON numbers; Qty × UnitPrice is rounded half-up to the cent for the 6070 check.

The control API (not part of QuickBooks; no auth; the server binds 127.0.0.1 by default)
- POST /_sandbox/reset {"seed": "none"|"demo"}          empty the realm (accounts stay), clear faults
                                                        (revoked tokens are valid again)
- POST /_sandbox/seed {"preset", "customers": N, "items": N}
- POST /_sandbox/inject {"kind", "count"|"rate", "path_contains", "seconds", "seed"}; GET lists,
  DELETE clears. Kinds: 500, 503, 429, 429-xml, timeout, drop, non-json, truncated, missing-fields,
  revoke (faults.py).
- GET /_sandbox/counters (calls by kind and status, token calls), POST /_sandbox/counters resets
- GET /_sandbox/dump/{Entity}  every stored record, inactive ones and deletion tombstones included
- POST /_sandbox/tokens/revoke | expire-access | mint
- GET|POST /_sandbox/settings {"latency_ms", "limits", "access_ttl", "rotation_grace", "send_retry_after",
                               "docnumber_duplicates", "requestid_replay", "custom_txn_numbers"}
- GET /_sandbox/connection     a fresh connection.json
"""
