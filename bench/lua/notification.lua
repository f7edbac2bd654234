-- POST /digiledge/payment-notification: "Successful" for refIds of Digiledge payments made beforehand, each
-- once, and about unknown_percent % for refIds nobody knows (held for reconciliation).
-- Arguments: refs_file run_tag unknown_percent seed
local refs = {}
local next_ref = 1
local tag, unknown_percent
local sent = 0

function init(args)
  for line in io.lines(args[1]) do
    table.insert(refs, line)
  end
  tag = args[2]
  unknown_percent = tonumber(args[3])
  math.randomseed(tonumber(args[4]))
end

function request()
  sent = sent + 1
  local ref
  if math.random(100) <= unknown_percent then
    ref = string.format("UNKNOWN%s%08d", tag, sent)
  else
    ref = refs[next_ref] or refs[1]
    next_ref = next_ref + 1
    if next_ref > #refs then next_ref = 1 end
  end
  local body = string.format(
    '{"refId": "%s", "status": "Successful", "reason": "", "ack": {"api": "PAYMENT_RESPONSE", "refId": "%s", ' ..
    '"msgId": "M%s%08d", "rspCd": "000", "ts": "2026-11-23T10:15:00+05:30", "errorMessages": []}}',
    ref, ref, tag, sent)
  return wrk.format("POST", "/digiledge/payment-notification",
    {["Content-Type"] = "application/json", ["X-API-Key"] = KEY}, body)
end
