-- wrk script for bench/run: POST the body in $BODY, with $AUTH as the Authorization header when set.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
