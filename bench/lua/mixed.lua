-- The memory run: 70 % fetchBills, 20 % fetchReceipt, 10 % payment notifications (the three scripts above,
-- concatenated before this one by serve_load.py under the names fb_, fr_ and pn_).
-- Arguments: customers bills_file refs_file run_tag seed
function init(args)
  fb_init({args[1], "10", args[5]})
  fr_init({args[2], args[4] .. "m"})
  pn_init({args[3], args[4] .. "m", "20", args[5]})
end

function request()
  local roll = math.random(100)
  if roll <= 70 then return fb_request() end
  if roll <= 90 then return fr_request() end
  return pn_request()
end
