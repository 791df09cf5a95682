-- wrk script for E1: etcd lease keep-alives through etcd's JSON gateway, round robin over
-- leases granted up front.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/etcd-keepalive.lua http://127.0.0.1:PORT -- LEASES
--
-- LEASES is a file with one lease id (decimal) per line.
function init(args)
  leases = {}
  for line in io.lines(args[1]) do leases[#leases + 1] = line end
  cursor = math.random(#leases)
end

function request()
  cursor = cursor % #leases + 1
  return wrk.format("POST", "/v3/lease/keepalive", { ["Content-Type"] = "application/json" }, '{"ID":"' .. leases[cursor] .. '"}')
end
