-- wrk script: the raw HTTP ceiling for DynamoDB GetItem. Every connection sends,
-- back to back, the request @aws-sdk/client-dynamodb sends for a GetItem (POST /,
-- X-Amz-Target DynamoDB_20120810.GetItem, Content-Type application/x-amz-json-1.0,
-- the SDK's headers, X-Amz-Date and a SigV4 Authorization header), built once:
-- one fixed request, so this measures the HTTP path alone (no signing, no JSON).
-- At the end done() prints ONE JSON line (the peers' schema) after wrk's own report,
-- so it is the last line of stdout.
--
--   wrk -t1 -c64 -d10s -s bench/peers/wrk_getitem.lua http://127.0.0.1:28200/
--
-- The signature is real when `openssl` is on PATH (computed once at start with
-- AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION, default AKIDEXAMPLE /
-- the AWS example secret / us-east-1), so the SigV4-checking gateway accepts it too
-- until it goes stale (its x-amz-date is fixed at start); otherwise a well-formed
-- fake one is sent. WRK_TABLE (default bench) and WRK_KEY (default v1) pick the item.
-- JSON: ops = completed requests (including non-2xx: wrk cannot tell them apart in
-- its latency data); errors = HTTP status > 399 plus socket connect/read/write
-- errors and timeouts; ops_per_sec = requests / duration; p50/p99/p999 from wrk's
-- latency statistics; concurrency = wrk's --connections (read from its command
-- line); CPU and RSS are null (wrk does not measure them).

local table_name = os.getenv("WRK_TABLE") or "bench"
local item_key = os.getenv("WRK_KEY") or "v1"
local access_key_id = os.getenv("AWS_ACCESS_KEY_ID") or "AKIDEXAMPLE"
local secret = os.getenv("AWS_SECRET_ACCESS_KEY") or "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
local region = os.getenv("AWS_REGION") or "us-east-1"

local function run(cmd)
  local f = io.popen(cmd)
  if not f then return nil end
  local out = f:read("*a")
  f:close()
  return out
end

local function tohex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- SHA-256 (hexkey nil) or HMAC-SHA256 of data, as hex, by openssl; nil if that fails.
local function digest(data, hexkey)
  local name = os.tmpname()
  local f = io.open(name, "wb")
  if not f then return nil end
  f:write(data)
  f:close()
  local mac = hexkey and ("-mac HMAC -macopt hexkey:" .. hexkey .. " ") or ""
  local out = run("openssl dgst -sha256 " .. mac .. "-hex < " .. name .. " 2>/dev/null")
  os.remove(name)
  local hex = out and out:match("(%x+)%s*$")
  if hex and #hex == 64 then return hex end
  return nil
end

local body = '{"TableName":"' .. table_name .. '","Key":{"key":{"S":"' .. item_key .. '"}},"ConsistentRead":true}'
local host = wrk.host
if host:find(":") then host = "[" .. host .. "]" end
if wrk.port then host = host .. ":" .. wrk.port end
local amz_date = os.date("!%Y%m%dT%H%M%SZ")
local day = amz_date:sub(1, 8)
local sdk_version = "3.1162.0"

local headers = {
  ["amz-sdk-invocation-id"] = "5d0b4f2c-8c2a-4d7e-9f1e-3a6b2c1d0e9f",
  ["amz-sdk-request"] = "attempt=1; max=3",
  ["content-length"] = tostring(#body),
  ["content-type"] = "application/x-amz-json-1.0",
  ["host"] = host,
  ["x-amz-content-sha256"] = digest(body) or "UNSIGNED-PAYLOAD",
  ["x-amz-date"] = amz_date,
  ["x-amz-target"] = "DynamoDB_20120810.GetItem",
  ["x-amz-user-agent"] = "aws-sdk-js/" .. sdk_version,
}
local names = {}
for name in pairs(headers) do names[#names + 1] = name end
table.sort(names)
local canonical_headers = {}
for _, name in ipairs(names) do canonical_headers[#canonical_headers + 1] = name .. ":" .. headers[name] .. "\n" end
local signed_headers = table.concat(names, ";")
local scope = day .. "/" .. region .. "/dynamodb/aws4_request"

local function sign()
  local canonical_request = "POST\n/\n\n" .. table.concat(canonical_headers) .. "\n" .. signed_headers .. "\n" ..
                            headers["x-amz-content-sha256"]
  local hashed = digest(canonical_request)
  if not hashed then return nil end
  local string_to_sign = "AWS4-HMAC-SHA256\n" .. amz_date .. "\n" .. scope .. "\n" .. hashed
  local key = tohex("AWS4" .. secret)
  for _, part in ipairs({ day, region, "dynamodb", "aws4_request" }) do
    key = digest(part, key)
    if not key then return nil end
  end
  return digest(string_to_sign, key)
end
local signature = sign() or "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

wrk.method = "POST"
wrk.path = "/"
wrk.body = body
wrk.headers["Host"] = host
wrk.headers["Content-Type"] = headers["content-type"]
wrk.headers["X-Amz-Target"] = headers["x-amz-target"]
wrk.headers["X-Amz-Date"] = amz_date
wrk.headers["X-Amz-Content-Sha256"] = headers["x-amz-content-sha256"]
wrk.headers["X-Amz-User-Agent"] = headers["x-amz-user-agent"]
wrk.headers["User-Agent"] = "aws-sdk-js/" .. sdk_version .. " ua/2.1 os/linux lang/js md/nodejs#20 api/dynamodb#" ..
                            sdk_version .. " m/N,E,P,e"
wrk.headers["amz-sdk-invocation-id"] = headers["amz-sdk-invocation-id"]
wrk.headers["amz-sdk-request"] = headers["amz-sdk-request"]
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=" .. access_key_id .. "/" .. scope ..
                               ", SignedHeaders=" .. signed_headers .. ", Signature=" .. signature
-- (wrk adds Content-Length itself; no request() function, so the request is built once.)

-- wrk's own command line (argv), for --connections (default 10) and its version.
local function wrk_args()
  local f = io.open("/proc/self/cmdline", "rb")
  if not f then return {} end
  local args = {}
  for arg in f:read("*a"):gmatch("([^%z]*)%z") do args[#args + 1] = arg end
  f:close()
  return args
end

local function connections(args)
  local c = 10
  for i, arg in ipairs(args) do
    if arg == "--" then break end
    local v = arg:match("^%-c(%d+)$") or arg:match("^%-%-connections=(%d+)$")
    if not v and (arg == "-c" or arg == "--connections") then v = args[i + 1] end
    if v and tonumber(v) then c = tonumber(v) end
  end
  return c
end

local function wrk_version(args)
  local exe = (args[1] and args[1] ~= "") and args[1] or "wrk"
  local out = run("'" .. exe:gsub("'", "'\\''") .. "' -v 2>&1") or ""
  return out:match("^wrk%s+(%S+)") or "unknown"
end

local function num(x, digits)
  if x == nil or x ~= x or x == math.huge then return "null" end
  return (string.format("%." .. digits .. "f", x):gsub("%.?0+$", ""))
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local n = summary.requests
  local function pct(p) if n == 0 then return "null" end return num(latency:percentile(p), 1) end
  local args = wrk_args()
  io.write(string.format(
    '{"client":"wrk","engine":"dynamodb","workload":"get","concurrency":%d,"ops":%d,"errors":%d,' ..
    '"seconds":%s,"ops_per_sec":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s,"cpu_us_per_op":null,' ..
    '"cpu_s_per_10k_ops":null,"peak_rss_mb":null,"version":"%s"}\n',
    connections(args), n, errors, num(seconds, 3), num(seconds > 0 and n / seconds or nil, 1),
    pct(50), pct(99), pct(99.9), wrk_version(args)))
end
