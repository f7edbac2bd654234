-- POST /bills/fetchReceipt: a fresh transaction against a distinct payable EXACT bill per request.
-- Arguments: bills_file run_tag. The file has one "partnerBillId,rupees" line per open EXACT bill (amount due).
local bills = {}
local next_bill = 1
local tag

function init(args)
  for line in io.lines(args[1]) do
    local id, amount = line:match("([^,]+),([^,]+)")
    table.insert(bills, {id, amount})
  end
  tag = args[2]
end

function request()
  local bill = bills[next_bill]
  if bill == nil then
    next_bill = 1
    bill = bills[1]
  end
  local n = next_bill
  next_bill = next_bill + 1
  local body = string.format(
    '{"systemBillId": %d, "partnerBillId": "%s", "paymentDetails": {"billAmount": %s, "amountPaid": %s, ' ..
    '"transactionId": "%s%07d"}}', SYSTEM_BILL_BASE + n, bill[1], bill[2], bill[2], tag, n)
  return wrk.format("POST", "/bills/fetchReceipt", {["Content-Type"] = "application/json", ["X-API-Key"] = KEY}, body)
end
