-- wrk script: POSTs OCSP requests (no nonce) for serials picked at random
-- from a list, a body built for each serial once per thread.
--   wrk -t2 -c64 -d10s -s bench/ocsp_requests.lua http://HOST:PORT/ocsp -- TEMPLATE.der SERIALS.txt
-- TEMPLATE.der: `openssl ocsp -issuer CA.pem -serial 0x0102030405060708090a0b0c0d0e0f10
-- -no_nonce -reqout TEMPLATE.der`; its 16 serial bytes are replaced by each
-- serial's. SERIALS.txt: one serial a line, 32 hex digits (others skipped).
local bodies = {}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("seed", n)
end
function init(args)
  math.randomseed(os.time() * 100 + seed)
  local f = assert(io.open(args[1], "rb"))
  local tmpl = f:read("*a")
  f:close()
  local at = string.find(tmpl, string.char(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), 1, true)
  local head, tail = string.sub(tmpl, 1, at - 1), string.sub(tmpl, at + 16)
  for line in io.lines(args[2]) do
    if #line == 32 then
      bodies[#bodies + 1] = head .. (line:gsub("..", function(h) return string.char(tonumber(h, 16)) end)) .. tail
    end
  end
end
function request()
  return wrk.format("POST", "/ocsp", {["Content-Type"] = "application/ocsp-request"},
                    bodies[math.random(1, #bodies)])
end
