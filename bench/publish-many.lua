-- wrk script: POSTs 64-byte bodies round-robin to 10000 channels (w0 … w9999) on the
-- publisher location. `-- close` sends each publish as Bitrix PHP does: HTTP/1.0 with
-- Connection: close, one new connection per publish.
--   wrk -t2 -c50 -d10s -s bench/publish-many.lua http://127.0.0.1:8895/bitrix/pub/ [-- close]
-- (8895 is the built-in BitrixVM layout's publisher; any publisher location works.)
local channels = 10000
local counter = 0
local close = false
local body = '{"bench":"' .. string.rep("x", 52) .. '"}'

function init(args)
  close = args[1] == "close"
  counter = math.random(channels)
end

function request()
  counter = (counter + 1) % channels
  local path = wrk.path .. "?CHANNEL_ID=w" .. counter
  if close then
    return "POST " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n" ..
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
  end
  return wrk.format("POST", path, nil, body)
end
