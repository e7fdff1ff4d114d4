// Runs the public npm client node-quickbooks, unmodified, end to end against the QuickBooks sandbox.
//
// Only the client's own base URLs are pointed at the sandbox (static properties of the QuickBooks
// class, as a user targeting another host would set them). Everything else is the library's code.
// Input (environment): NODE_QUICKBOOKS_DIR (the npm --prefix folder holding node_modules/node-quickbooks),
// QBO_API_BASE_URL (…/v3), QBO_DISCOVERY_URL, QBO_REALM_ID, QBO_CLIENT_ID, QBO_CLIENT_SECRET,
// QBO_REFRESH_TOKEN, QBO_REDIRECT_URI; QBO_PROBE_REVOKE=1 also revokes the tokens at the end. Run it with TZ set
// (the library formats a Date in the process's zone; see the changeDataCapture_plus_offset step).
// Output: one JSON object on stdout. No token or secret is ever printed.
'use strict'

const path = require('path')

const env = process.env
const CLIENT_DIR = path.join(env.NODE_QUICKBOOKS_DIR || '.', 'node_modules', 'node-quickbooks')
const QuickBooks = require(CLIENT_DIR)
const clientVersion = require(path.join(CLIENT_DIR, 'package.json')).version

// The 24 entity types change data capture covers (Intuit's CDC page).
const CDC_ENTITIES = ['Account', 'BillPayment', 'Bill', 'Budget', 'Class', 'CreditMemo', 'Customer', 'Department',
  'Deposit', 'Employee', 'Estimate', 'Invoice', 'Item', 'JournalEntry', 'PaymentMethod', 'Payment', 'PurchaseOrder',
  'Purchase', 'RefundReceipt', 'SalesReceipt', 'Term', 'Transfer', 'VendorCredit', 'Vendor']

const SECRETS = [env.QBO_CLIENT_SECRET, env.QBO_REFRESH_TOKEN].filter(Boolean)
const report = { client: 'node-quickbooks', version: clientVersion, steps: {}, errors: [] }

function redact (text) {
  let out = String(text)
  for (const secret of SECRETS) out = out.split(secret).join('<redacted>')
  return out.replace(/Bearer [A-Za-z0-9._~+/=-]+/g, 'Bearer <redacted>')
}

// What went wrong, without the request config (axios errors carry the Authorization header).
function describe (err) {
  if (err && err.response) {
    return redact(`HTTP ${err.response.status}: ${JSON.stringify(err.response.data)}`.slice(0, 1000))
  }
  if (err && err.Fault) return redact(`Fault: ${JSON.stringify(err.Fault)}`.slice(0, 1000))
  if (err && err.message) return redact(`${err.code || 'Error'}: ${err.message}`)
  return redact(JSON.stringify(err)).slice(0, 1000)
}

// node-quickbooks is callback based: (err, data, res).
function call (qbo, method, ...args) {
  return new Promise((resolve) => {
    try {
      qbo[method](...args, (err, data) => resolve({ err, data }))
    } catch (thrown) {
      resolve({ err: thrown, data: null })
    }
  })
}

async function step (name, fn) {
  const started = Date.now()
  try {
    const result = await fn()
    report.steps[name] = { ok: true, ms: Date.now() - started, ...(result || {}) }
  } catch (err) {
    report.steps[name] = { ok: false, ms: Date.now() - started, error: describe(err) }
    report.errors.push(`${name}: ${describe(err)}`)
  }
}

async function must (qbo, method, ...args) {
  const { err, data } = await call(qbo, method, ...args)
  if (err) throw err
  return data
}

function rows (data, entity) {
  const response = (data && data.QueryResponse) || {}
  return response[entity] || []
}

function cdcGroups (data) {
  // {"CDCResponse":[{"QueryResponse":[{"Customer":[…],"startPosition":1,…}, …]}]}
  const groups = {}
  for (const answer of (data && data.CDCResponse) || []) {
    for (const group of answer.QueryResponse || []) {
      for (const [key, value] of Object.entries(group)) {
        if (Array.isArray(value)) groups[key] = (groups[key] || []).concat(value)
      }
    }
  }
  return groups
}

async function main () {
  for (const name of ['NODE_QUICKBOOKS_DIR', 'QBO_API_BASE_URL', 'QBO_DISCOVERY_URL', 'QBO_REALM_ID', 'QBO_CLIENT_ID',
    'QBO_CLIENT_SECRET', 'QBO_REFRESH_TOKEN', 'QBO_REDIRECT_URI']) {
    if (!env[name]) throw new Error(`${name} is not set`)
  }
  const realm = env.QBO_REALM_ID

  // The only configuration: the client's static URLs. The data API base from connection.json; the
  // OAuth endpoints from the sandbox's discovery document, which is what setOauthVersion('2.0') reads
  // (it can only fetch Intuit's two hard-coded discovery URLs, so the same assignment is done here).
  QuickBooks.V3_ENDPOINT_BASE_URL = env.QBO_API_BASE_URL.replace(/\/$/, '') + '/company/'
  await step('discovery', async () => {
    const response = await fetch(env.QBO_DISCOVERY_URL, { headers: { Accept: 'application/json' } })
    if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`)
    const json = await response.json()
    QuickBooks.AUTHORIZATION_URL = json.authorization_endpoint
    QuickBooks.TOKEN_URL = json.token_endpoint
    QuickBooks.USER_INFO_URL = json.userinfo_endpoint
    QuickBooks.REVOKE_URL = json.revocation_endpoint
    return { token_endpoint_path: new URL(json.token_endpoint).pathname }
  })

  const qbo = new QuickBooks(env.QBO_CLIENT_ID, env.QBO_CLIENT_SECRET, 'no-access-token-yet', false, realm,
    true /* useSandbox: keep the base URL as given */, false /* debug would log headers */, 75, '2.0',
    env.QBO_REFRESH_TOKEN)

  await step('refreshAccessToken', async () => {
    const { err, data } = await call(qbo, 'refreshAccessToken')
    if (err) throw err
    if (!data.access_token || !data.refresh_token) throw new Error('token response lacks access_token/refresh_token')
    return { rotated: data.refresh_token !== env.QBO_REFRESH_TOKEN, expires_in: data.expires_in,
      x_refresh_token_expires_in: data.x_refresh_token_expires_in }
  })
  if (!report.steps.refreshAccessToken.ok) return // nothing else can work

  // The authorization-code flow as the library's oauth2example does it: AUTHORIZATION_URL, then a form POST
  // to the token URL with HTTP Basic client credentials; then a client built on that access token.
  await step('authorizationCode', async () => {
    const authorize = QuickBooks.AUTHORIZATION_URL + '?client_id=' + env.QBO_CLIENT_ID +
      '&redirect_uri=' + encodeURIComponent(env.QBO_REDIRECT_URI) + '&scope=com.intuit.quickbooks.accounting' +
      '&response_type=code&state=probe-state'
    const redirect = await fetch(authorize, { redirect: 'manual' })
    const location = new URL(redirect.headers.get('location') || 'about:blank')
    if (location.searchParams.get('state') !== 'probe-state' || !location.searchParams.get('code')) {
      throw new Error(`authorize answered HTTP ${redirect.status} without code and state`)
    }
    const exchanged = await fetch(QuickBooks.TOKEN_URL, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: 'Basic ' + Buffer.from(env.QBO_CLIENT_ID + ':' + env.QBO_CLIENT_SECRET).toString('base64') },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: location.searchParams.get('code'),
        redirect_uri: env.QBO_REDIRECT_URI }).toString()
    })
    const tokens = await exchanged.json()
    if (!exchanged.ok || !tokens.access_token) throw new Error(`code exchange answered HTTP ${exchanged.status}`)
    const fresh = new QuickBooks(env.QBO_CLIENT_ID, env.QBO_CLIENT_SECRET, tokens.access_token, false,
      location.searchParams.get('realmId'), true, false, 75, '2.0', tokens.refresh_token)
    const accounts = rows(await must(fresh, 'findAccounts'), 'Account')
    return { realm_matches: location.searchParams.get('realmId') === realm, accounts: accounts.length }
  })

  await step('getUserInfo', async () => {
    const data = await must(qbo, 'getUserInfo')
    return { has_email: Boolean(data && data.email) }
  })

  await step('getCompanyInfo', async () => {
    const info = await must(qbo, 'getCompanyInfo', realm)
    if (!info || info.Id !== realm) throw new Error(`CompanyInfo Id is ${info && info.Id}, not the realm id`)
    report.company_name = info.CompanyName
    return { company_name: info.CompanyName, country: info.Country }
  })

  await step('findCompanyInfos', async () => {
    const found = rows(await must(qbo, 'findCompanyInfos'), 'CompanyInfo')
    if (found.length !== 1) throw new Error(`SELECT * FROM CompanyInfo gave ${found.length} rows`)
    return { rows: found.length }
  })

  await step('getPreferences', async () => {
    const prefs = await must(qbo, 'getPreferences')
    const sales = prefs && prefs.SalesFormsPrefs
    if (!sales || typeof sales.CustomTxnNumbers !== 'boolean') {
      throw new Error('Preferences lacks SalesFormsPrefs.CustomTxnNumbers')
    }
    return { custom_txn_numbers: sales.CustomTxnNumbers }
  })

  // Lists, paged by the library itself (fetchAll: 1000 per page until a page is short).
  for (const [method, entity] of [['findCustomers', 'Customer'], ['findItems', 'Item'], ['findAccounts', 'Account'],
    ['findPayments', 'Payment'], ['findVendors', 'Vendor'], ['findInvoices', 'Invoice']]) {
    await step(method, async () => {
      const found = rows(await must(qbo, method, { fetchAll: true }), entity)
      const ids = new Set(found.map((r) => r.Id))
      if (ids.size !== found.length) throw new Error(`${found.length} rows but ${ids.size} distinct ids`)
      report[`${entity.toLowerCase()}_count`] = found.length
      return { rows: found.length }
    })
  }

  await step('countCustomers', async () => {
    const data = await must(qbo, 'findCustomers', { count: true })
    return { total: data.QueryResponse.totalCount }
  })
  await step('findCustomers_inactive_too', async () => {
    const found = rows(await must(qbo, 'findCustomers', [{ field: 'Active', value: [true, false], operator: 'IN' },
      { field: 'fetchAll', value: true }]), 'Customer')
    report.customer_count_with_inactive = found.length
    return { rows: found.length }
  })
  await step('findCustomers_by_name', async () => {
    const found = rows(await must(qbo, 'findCustomers', { DisplayName: "O'Brien & Sons" }), 'Customer')
    return { rows: found.length }
  })
  await step('findItems_like_desc', async () => {
    const found = rows(await must(qbo, 'findItems', [{ field: 'Name', value: 'S%', operator: 'LIKE' },
      { field: 'desc', value: 'Name' }]), 'Item')
    return { names: found.map((r) => r.Name) }
  })
  await step('query_error_is_a_fault', async () => {
    const { err } = await call(qbo, 'findCustomers', { Shoe: 'x' })
    const fault = err && (err.Fault || (err.response && err.response.data && err.response.data.Fault))
    if (!fault) throw new Error(`an unknown property gave no Fault: ${describe(err)}`)
    return { code: fault.Error[0].code }
  })

  // Writes: a customer (create, read, sparse update), an item, an invoice, then void and delete. CDC below
  // looks back to a whole second after the last seeded record, so it sees exactly what this probe wrote.
  const since = new Date(Math.ceil(Date.now() / 1000) * 1000)
  await new Promise((resolve) => setTimeout(resolve, since - Date.now() + 20))
  const stamp = Date.now().toString(36)
  let customer, item, invoice, doomed
  await step('createCustomer', async () => {
    customer = await must(qbo, 'createCustomer', { DisplayName: `Node Probe ${stamp}`, GivenName: 'Node',
      PrimaryEmailAddr: { Address: 'probe@example.invalid' } })
    if (!customer.Id || customer.SyncToken !== '0') throw new Error(`created customer: ${JSON.stringify(customer)}`)
    return { id: customer.Id }
  })
  await step('getCustomer', async () => {
    const read = await must(qbo, 'getCustomer', customer.Id)
    if (read.DisplayName !== customer.DisplayName) throw new Error('read back another name')
    return {}
  })
  await step('updateCustomer', async () => {
    const updated = await must(qbo, 'updateCustomer', { Id: customer.Id, SyncToken: customer.SyncToken,
      CompanyName: 'Probe Co' })
    if (updated.SyncToken !== '1' || updated.DisplayName !== customer.DisplayName ||
      updated.CompanyName !== 'Probe Co') {
      throw new Error(`sparse update gave ${JSON.stringify(updated)}`)
    }
    return {}
  })
  await step('createItem', async () => {
    const accounts = rows(await must(qbo, 'findAccounts', { Name: 'Services' }), 'Account')
    item = await must(qbo, 'createItem', { Name: `Probe Item ${stamp}`, Type: 'Service', UnitPrice: 12.5,
      IncomeAccountRef: { value: accounts[0].Id } })
    return { id: item.Id }
  })
  await step('createInvoice', async () => {
    const invoiceBody = (docNumber) => ({
      DocNumber: docNumber, CustomerRef: { value: customer.Id },
      Line: [{ Amount: 25, DetailType: 'SalesItemLineDetail',
        SalesItemLineDetail: { ItemRef: { value: item.Id }, Qty: 2, UnitPrice: 12.5 } }]
    })
    invoice = await must(qbo, 'createInvoice', { ...invoiceBody(`NP-${stamp}-1`), requestId: `np-${stamp}-1` })
    doomed = await must(qbo, 'createInvoice', invoiceBody(`NP-${stamp}-2`))
    if (Number(invoice.TotalAmt) !== 25) throw new Error(`TotalAmt ${invoice.TotalAmt}`)
    const replay = await must(qbo, 'createInvoice', { ...invoiceBody(`NP-${stamp}-1`), requestId: `np-${stamp}-1` })
    if (replay.Id !== invoice.Id) throw new Error('a repeated requestid created a second invoice')
    return { total: invoice.TotalAmt }
  })
  await step('voidInvoice', async () => {
    const voided = await must(qbo, 'voidInvoice', invoice.Id)
    const result = voided.Invoice || voided
    if (Number(result.Balance) !== 0) throw new Error(`voided invoice balance ${result.Balance}`)
    return {}
  })
  await step('deleteInvoice', async () => {
    const deleted = await must(qbo, 'deleteInvoice', doomed.Id)
    const result = deleted.Invoice || deleted
    if (result.status !== 'Deleted') throw new Error(`delete answered ${JSON.stringify(deleted)}`)
    return {}
  })
  await step('payments', async () => {
    const open = await must(qbo, 'createInvoice', { CustomerRef: { value: customer.Id }, Line: [{ Amount: 37.5,
      DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: item.Id }, Qty: 3 } }] })
    const paid = await must(qbo, 'createPayment', { CustomerRef: { value: customer.Id }, TotalAmt: 20,
      Line: [{ Amount: 20, LinkedTxn: [{ TxnId: open.Id, TxnType: 'Invoice' }] }] })
    const afterPay = await must(qbo, 'getInvoice', open.Id)
    if (Number(afterPay.Balance) !== 17.5) throw new Error(`invoice balance after a 20 payment: ${afterPay.Balance}`)
    const voided = await must(qbo, 'voidPayment', { Id: paid.Id, SyncToken: paid.SyncToken })
    const afterVoid = await must(qbo, 'getInvoice', open.Id)
    if (Number(afterVoid.Balance) !== 37.5) throw new Error(`invoice balance after the void: ${afterVoid.Balance}`)
    const second = await must(qbo, 'createPayment', { CustomerRef: { value: customer.Id }, TotalAmt: 37.5,
      Line: [{ Amount: 37.5, LinkedTxn: [{ TxnId: open.Id, TxnType: 'Invoice' }] }] })
    const gone = await must(qbo, 'deletePayment', second.Id)
    if ((gone.Payment || gone).status !== 'Deleted') throw new Error(`payment delete answered ${JSON.stringify(gone)}`)
    return { voided_total: Number(voided.TotalAmt) }
  })
  await step('find_other_lists', async () => {
    const counts = {}
    for (const method of ['findTerms', 'findTaxCodes', 'findTaxRates', 'findClasses', 'findDepartments',
      'findEmployees', 'findEstimates', 'findBills', 'findBillPayments', 'findCreditMemos', 'findSalesReceipts',
      'findPurchases', 'findPurchaseOrders', 'findJournalEntries', 'findDeposits', 'findTransfers',
      'findVendorCredits', 'findRefundReceipts', 'findPaymentMethods', 'findTimeActivities', 'findAttachables',
      'findBudgets', 'findCompanyCurrencies', 'findExchangeRates', 'findPreferenceses', 'findTaxAgencies']) {
      if (typeof qbo[method] !== 'function') continue
      const data = await must(qbo, method, { fetchAll: true })
      counts[method] = Object.values(data.QueryResponse).filter(Array.isArray).reduce((n, r) => n + r.length, 0)
    }
    return { counts }
  })
  await step('batch', async () => {
    const data = await must(qbo, 'batch', [{ bId: 'q1', Query: 'select * from Item maxresults 2' },
      { bId: 'c1', operation: 'create', Customer: { DisplayName: `Node Batch ${stamp}` } }])
    const answers = data.BatchItemResponse || []
    if (answers.length !== 2 || answers.some((a) => a.Fault)) throw new Error(`batch answered ${JSON.stringify(data)}`)
    return {}
  })

  // Change data capture over all 24 types: in one call (Date → the library's formatISO) and one call per type.
  await step('changeDataCapture_all', async () => {
    const data = await must(qbo, 'changeDataCapture', CDC_ENTITIES, since)
    const groups = cdcGroups(data)
    const counts = Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, v.length]))
    const deleted = (groups.Invoice || []).filter((r) => r.status === 'Deleted').map((r) => r.Id)
    if (!(groups.Customer || []).some((r) => r.Id === customer.Id)) throw new Error('new customer missing from CDC')
    if (!deleted.includes(doomed.Id)) throw new Error('deleted invoice missing from CDC')
    report.cdc_counts = counts
    return { counts, deleted_invoices: deleted }
  })
  // What the library sends for a Date east of UTC: formatISO gives "+05:30", put in the URL unencoded, so
  // the server reads a space. QuickBooks cannot parse that; "%2B" is the caller's workaround.
  await step('changeDataCapture_plus_offset', async () => {
    const local = new Date(Date.now() - 3600 * 1000 + 5.5 * 3600 * 1000).toISOString().slice(0, 19)
    const raw = await call(qbo, 'changeDataCapture', 'Customer', local + '+05:30')
    const fault = raw.err && raw.err.response && raw.err.response.data && raw.err.response.data.Fault
    if (!fault) throw new Error(`an unencoded "+" offset was accepted: ${raw.err ? describe(raw.err) : 'no error'}`)
    const encoded = await call(qbo, 'changeDataCapture', 'Customer', local + '%2B05:30')
    if (encoded.err) throw encoded.err
    return { unencoded_plus: `refused ${fault.Error[0].code}`, encoded_plus: 'accepted' }
  })
  report.cdc_answered = []
  await step('changeDataCapture_each', async () => {
    const failed = []
    const sinceText = new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
    for (const entity of CDC_ENTITIES) {
      const { err, data } = await call(qbo, 'changeDataCapture', entity, sinceText)
      if (err || !data || !Array.isArray(data.CDCResponse)) failed.push(`${entity}: ${describe(err)}`)
      else report.cdc_answered.push(entity)
    }
    if (failed.length) throw new Error(failed.join('; '))
    return { answered: report.cdc_answered.length }
  })

  await step('refreshAccessToken_again', async () => {
    const before = qbo.refreshToken
    await must(qbo, 'refreshAccessToken')
    await must(qbo, 'getCompanyInfo', realm)
    return { rotated: qbo.refreshToken !== before }
  })

  if (env.QBO_PROBE_REVOKE === '1') {
    await step('revokeAccess', async () => {
      const { err } = await call(qbo, 'revokeAccess', true)
      if (err) throw err
      const after = await call(qbo, 'getCompanyInfo', realm)
      const status = after.err && after.err.response && after.err.response.status
      if (status !== 401) throw new Error(`after revoke a read answered ${status || 'success'}`)
      return { then: status }
    })
  }
}

main().catch((err) => report.errors.push(`probe: ${describe(err)}`)).finally(() => {
  report.ok = report.errors.length === 0
  process.stdout.write(JSON.stringify(report, null, 2) + '\n')
})
