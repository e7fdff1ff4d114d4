"""A local emulator of the QuickBooks Online v3 API, speaking the real wire protocol.

The unmodified python-quickbooks and intuit-oauth clients talk to it, configured only by URLs (see
`connection.json`). It imports nothing else from qb_pipeline. Run it with
`qb-pipeline sandbox serve` (or `python -m qb_pipeline.sandbox serve`); `make dev` starts it.

What it serves
- OAuth 2 (oauth.py): discovery at /.well-known/openid_configuration, an authorize endpoint that
  approves at once, token (authorization_code, refresh_token; client credentials by HTTP Basic or form
  body), revoke (at Intuit's path, /v2/oauth2/tokens/revoke: JSON {"token"} with HTTP Basic client
  credentials, 200; either token of a connection ends that company's connection). Refresh tokens rotate; a superseded one works for a grace period (30 s by default),
  then answers invalid_grant. Access tokens last 3600 s (settable). No id_token. A refresh token's chain
  has a hard end (five years from consent by default; rotation keeps it; invalid_grant past it), told as
  x_refresh_token_hard_expires_in when the token request sends x-include-refresh-token-hard-expires-in: true.
- /v3/company/{realm}/…  (api.py, entities.py, payments.py, company.py): Customer, Item, Invoice (read,
  create, full and sparse update, invoice void/delete), Payment (read, create, update, query, CDC; void
  with `operation=update&include=void`, delete; a line whose LinkedTxn names an invoice lowers that
  invoice's Balance, and the invoice's new version shows in CDC), Account (read-only, seeded),
  CompanyInfo (read by the realm id, as QuickBooks names it, and by query), Preferences (GET, sparse
  POST of its blocks), query (POST application/text or GET ?query=), batch (≤30 items, per-item
  Fault), CDC (≤30 days back, ≤1000 objects, deleted invoices and payments and merged-away customers
  and items as tombstones after the active records), requestid replay per realm.
  Every entity name QuickBooks' query accepts answers (an empty QueryResponse where the sandbox holds
  no rows); CDC accepts its 24 entity types in one call; an unknown name gets QuickBooks' 4001.
- Many companies (companies.py; `serve --companies N`, POST /_sandbox/companies): each realm has its own
  records (Ids repeat across companies), rate limits, faults, counters, settings and webhook deliveries
  (events carry its realm id). They share what an Intuit app shares: client id and secret, token
  lifetimes, the webhook verifier token. A token works for its own company only: elsewhere it gets 401
  (AuthenticationFault, code 100, as Intuit answers a token/realm mismatch). The authorize endpoint
  connects the company named by `realm_id` (the first when none), as Intuit's company picker does.
- Company settings (flags of `serve`, or /_sandbox/settings): `docnumber_duplicates` refuse|allow
  (6140 or not for a second invoice with one DocNumber), `requestid_replay` (a repeated requestid
  answers the first answer, or is processed again, as reported of QuickBooks in some cases),
  `custom_txn_numbers` (= Preferences.SalesFormsPrefs.CustomTxnNumbers: when off the sandbox numbers
  invoices 1001, 1002… itself and ignores a DocNumber sent).
- Minor versions as Intuit serves them since 2025-08-01 (docs/qbo-api.md §10): every call is answered
  as minor version 75; a `minorversion` below 75 is ignored and a call without one is served as 75 —
  neither is refused, since QuickBooks refuses neither. The value each call sent is counted.
- Rate limits (limits.py): off, real (500/min, 10/s, 40 batch/min and 10 in flight per realm) or scaled:F.
- Latency: `latency_ms` per call plus `latency_per_row_ms` per returned row (flags `--latency-ms`,
  `--latency-per-row-ms`), so a 1,000-row page costs what it costs at Intuit (1–3 s).
- Webhooks out (webhooks.py): with `webhook_url` set, every create, update, delete, void and merge
  (through the API or the control API, seeding included; a Preferences POST is an Update of
  Preferences) is POSTed there, signed with `intuit-signature` and connection.json's
  `webhook_verifier_token`, as CloudEvents or the legacy payload (`webhook_format` cloudevents|legacy),
  batched over `webhook_batch_ms`; a delivery not answered 200 is retried with back-off up to 12 times,
  then dropped. A merge is one event for the surviving record with the merged-away id (`deletedid`).

Checked against Intuit's documentation, not against ourselves
- qb_pipeline_tests/sandbox/reference_shapes/*.json hold the key names and JSON types of the answers
  Intuit documents for CompanyInfo, Preferences, Customer, Item, Invoice, Payment, a query page, CDC,
  batch and a Fault (from Intuit's API reference samples and the open SDKs' test data; each file names
  its source and what it leaves out); test_reference_shapes.py requires every documented key, with
  its type, in the sandbox's own answers, and no JSON null ("only properties with values are returned").
- What that made the sandbox fill in as QuickBooks does: a customer's Job, BillWithParent, Taxable
  (false), PreferredDeliveryMethod ("Print"), PrintOnCheckName (the DisplayName), BalanceWithJobs (=
  Balance) and an Id on each address (a sequence of their own); an item's TrackQtyOnHand; an invoice's
  PrintStatus (NeedToPrint when the customer prefers print), EmailStatus, DueDate (TxnDate + 30 days,
  the company's Net 30), Deposit, ApplyTaxAfterDiscount, TxnTaxDetail.TotalTax, LinkedTxn ([]) and
  each line's TaxCodeRef (NON); a payment's ProcessPayment; Preferences' email messages and custom-
  field switches.

Choices where QuickBooks' behaviour is not documented ("unsure" in docs/qbo-api.md)
- The company lives in America/Los_Angeles: every time carries the offset of its own date (-08:00 in
  winter, -07:00 in summer), a default TxnDate is today's date there, and a query or CDC time without
  an offset is read in that zone (python-quickbooks' CDC helper sends none). A changedSince whose offset's "+"
  was sent unencoded (so it arrives as a space) is refused with 2050, not repaired: a form-decoding
  server cannot parse it, and QBO was reported to answer "Unparseable date" to such a date.
- 429 answers carry Retry-After unless settings say send_retry_after=false; `429-xml` faults answer
  with a non-JSON body, as seen in the wild.
- Undocumented fault codes: 2020 for a missing required field, 2050 for a value too long or
  malformed, 6000 for deleting a customer or item, 3200 (HTTP 401) for a bad or revoked token.
- A repeated requestid returns the stored answer forever (QBO's retention is unknown).
- A merge (Intuit documents only its notification): the merged-away record is deleted (QuickBooks
  marks it deleted, then purges it), its transactions are re-linked to the survivor as new versions,
  each notified as an Update, and a customer's balance moves to the survivor; items must share a Type.
- A `minorversion` above 75 or not a number (Intuit documents neither) is served as 75 like the rest.
- STARTPOSITION below 1 counts as 1; MAXRESULTS above 1000 is capped at 1000 silently.
- Amounts go out as JSON numbers; Qty × UnitPrice is rounded half-up to the cent for the 6070 check and
  becomes the line's Amount; a UnitPrice is kept as sent (QuickBooks keeps seven places: docs/qbo-api.md §9).

Clients tried (each unmodified, configured only by URLs, end to end over real HTTP)
- python-quickbooks 0.9.12 + intuit-oauth 1.2.6, the project's own: `api_url_v3` set per client,
  AuthClient's `environment` = the discovery URL, OAUTHLIB_INSECURE_TRANSPORT for loopback http
  (qb_pipeline_tests/fixtures/sandbox.py; every conformance test in qb_pipeline_tests/sandbox).
- node-quickbooks 2.0.50 (npm), a widely used JavaScript client: its static URLs overridden
  (V3_ENDPOINT_BASE_URL = …/v3/company/; TOKEN_URL, AUTHORIZATION_URL, USER_INFO_URL, REVOKE_URL read
  from the sandbox's discovery document, which setOauthVersion('2.0') would do but only for Intuit's
  hard-coded URLs). qb_pipeline_tests/sandbox/node_quickbooks_probe.js drives it: refresh with its own
  refreshAccessToken, the authorization-code flow as its oauth2example does it, getUserInfo,
  getCompanyInfo(realm), findCompanyInfos, getPreferences, find* with fetchAll (paging past 1000
  customers and items) for every list, count, IN/LIKE/orderby criteria, a 4001 fault, create/read/
  sparse-update a customer, item, invoices (requestid replay, void, delete), payment (void via
  include=void, delete), batch, changeDataCapture over all 24 types in one call and one by one,
  token rotation, revokeAccess then 401. test_other_clients.py installs the pinned version into
  .cache/node-clients/ (git-ignored) and runs it. It found one disagreement: the client puts
  changedSince into the URL without encoding "+", so east of UTC the offset arrives as a space; the
  sandbox silently turned the space back into "+", hiding a request QBO reportedly refuses. Now refused
  (above); the probe checks the unencoded "+" is refused and "%2B" accepted. Everything else agreed.
  Not served, so not exercised: reports, PDFs, send, upload, GET exchangerate.

A stand-in for QuickBooks' own screens (not part of QuickBooks' API; screens.py): GET /screens lists
customers, items and invoices and adds customers and items through the same rules and store as an API
write (so webhooks and CDC tell of them). It asks for the control token once (a form, or `?token=`),
then keeps a cookie of a value derived from it (HttpOnly, SameSite=Strict); a form whose Origin is not
the sandbox's own is refused (403). GET / leads there.

The control API (not part of QuickBooks; the server binds 127.0.0.1 by default). Every route needs
`Authorization: Bearer <control_token>` (from connection.json; 401 without it) and refuses a request
whose Origin is not the sandbox's own (403), so a web page in the developer's browser cannot drive it
(control.py `guarded`); `client.SandboxClient` sends the token. Each route below acts on the first
company; /_sandbox/companies/{realm}/<route> on the company of `realm` (404 for one not served).
- GET /_sandbox/companies                               the companies, the first the default
- POST /_sandbox/companies {"seed", "customers", "items"}   add a company; answers its realm_id (201)
- POST /_sandbox/reset {"seed": "none"|"demo"}          empty the realm (accounts stay), clear faults
                                                        (revoked tokens are valid again)
- POST /_sandbox/seed {"preset", "customers": N, "items": N}
- POST /_sandbox/merge {"entity": "Customer"|"Item", "from_id", "into_id"}   what QuickBooks' UI does
                                                        when one is renamed to the other's name (the API
                                                        cannot merge): from_id's invoices and payments
                                                        name into_id, from_id is deleted (a tombstone in
                                                        CDC), into_id gets a new version and the Merge event
- POST /_sandbox/inject {"kind", "count"|"rate", "path_contains", "seconds", "seed"}; GET lists,
  DELETE clears. Kinds: 500, 503, 429, 429-xml, timeout, drop, non-json, truncated, missing-fields,
  revoke, late (the call reaches the limits `seconds` late, as over a slow network) (faults.py). A
  `path_contains` naming an OAuth path (/oauth2/v1/tokens, /tokens/revoke, /.well-known/) reaches the token, revoke
  and discovery endpoints.
- GET /_sandbox/counters (calls by kind and status, token calls, `minorversions`: calls by the
  minorversion they sent, "none" when absent), POST /_sandbox/counters resets
- GET /_sandbox/dump/{Entity}  every stored record, inactive ones and deletion tombstones included
- POST /_sandbox/tokens/revoke | expire-access | mint | hard-end {"expires_in": seconds} (every live
  refresh token's chain ends that far from now: a test puts the hard end near, or past)
- GET|POST /_sandbox/settings {"latency_ms", "latency_per_row_ms", "limits", "access_ttl", "rotation_grace",
                               "send_retry_after", "docnumber_duplicates", "requestid_replay",
                               "custom_txn_numbers", "webhook_url", "webhook_format", "webhook_batch_ms",
                               "refresh_hard_ttl" (seconds from a consent to its hard end),
                               "hard_expiry_field" (x_refresh_token_hard_expires_in or
                               x_refresh_token_lifetime_expires_in)}
- GET /_sandbox/webhooks       webhook counters: events, deliveries, failed_attempts, dropped
- GET /_sandbox/connection     a fresh connection.json
"""
