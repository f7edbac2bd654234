-- POST /bills/fetchBills for a random known customer (CUST00000001..), about 10 % unknown customers.
-- Arguments: customers unknown_percent seed
local customers, unknown_percent

function init(args)
  customers = tonumber(args[1])
  unknown_percent = tonumber(args[2])
  math.randomseed(tonumber(args[3]))
end

function request()
  local id
  if math.random(100) <= unknown_percent then
    id = string.format("NOSUCH%08d", math.random(99999999))
  else
    id = string.format("CUST%08d", math.random(customers))
  end
  return wrk.format("POST", "/bills/fetchBills", {["Content-Type"] = "application/json", ["X-API-Key"] = KEY},
    '[{"identifierKey": "customerId", "identifierValue": "' .. id .. '"}]')
end
