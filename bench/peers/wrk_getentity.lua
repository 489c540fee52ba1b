-- wrk script: the raw HTTP ceiling for Azure Table Storage getEntity. Every
-- connection sends, back to back, the request @azure/data-tables sends for
-- getEntity("v1", ""): GET /<account>/<table>(PartitionKey='v1',RowKey='') (path-style,
-- as Azurite) with the SDK's Accept, x-ms-version, DataServiceVersion, x-ms-date and
-- a SharedKeyLite Authorization header (the SDK's scheme), built once: one fixed
-- request, so this measures the HTTP path alone. At the end done() prints ONE JSON
-- line (the peers' schema) after wrk's own report, so it is the last line of stdout.
--
--   wrk -t1 -c64 -d10s -s bench/peers/wrk_getentity.lua http://127.0.0.1:28202/
--   (or .../devstoreaccount1: a URL path other than "/" is used as the account prefix)
--
-- The signature is real when `openssl` is on PATH (computed once at start with
-- AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY, default Azurite's devstoreaccount1 and
-- its public development key), so Azurite accepts it (while its x-ms-date, fixed at
-- start, is fresh enough); otherwise a well-formed fake one is sent (403 there).
-- WRK_TABLE (default bench) and WRK_KEY (default v1) pick the entity; setup writes
-- v0..v999, the default is one of them.
-- JSON: ops = completed requests (including non-2xx: wrk cannot tell them apart in
-- its latency data); errors = HTTP status > 399 (so a 404 counts) plus socket
-- connect/read/write errors and timeouts; ops_per_sec = requests / duration;
-- p50/p99/p999 from wrk's latency statistics; concurrency = wrk's --connections
-- (read from its command line); CPU and RSS are null (wrk does not measure them).

local table_name = os.getenv("WRK_TABLE") or "bench"
local item_key = os.getenv("WRK_KEY") or "v1"
local account = os.getenv("AZURE_STORAGE_ACCOUNT") or "devstoreaccount1"
local account_key = os.getenv("AZURE_STORAGE_KEY") or
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

local function run(cmd)
  local f = io.popen(cmd)
  if not f then return nil end
  local out = f:read("*a")
  f:close()
  return out
end

-- Runs `cmd < file(data)` and returns its output; nil if that fails.
local function pipe(data, cmd)
  local name = os.tmpname()
  local f = io.open(name, "wb")
  if not f then return nil end
  f:write(data)
  f:close()
  local out = run("(" .. cmd .. ") < " .. name .. " 2>/dev/null")
  os.remove(name)
  return out
end

local prefix = wrk.path
if prefix == nil or prefix == "" or prefix == "/" then prefix = "/" .. account end
prefix = prefix:gsub("/+$", "")
local path = prefix .. "/" .. table_name .. "(PartitionKey='" .. item_key .. "',RowKey='')"
local host = wrk.host
if host:find(":") then host = "[" .. host .. "]" end
if wrk.port then host = host .. ":" .. wrk.port end
local ms_date = os.date("!%a, %d %b %Y %H:%M:%S GMT")

-- SharedKeyLite for the Table service: HMAC-SHA256(key, x-ms-date \n /account/path).
local function sign()
  local hexkey = pipe(account_key, "openssl base64 -d -A | od -An -v -tx1 | tr -d ' \\n'")
  if not hexkey or not hexkey:match("^%x+$") or #hexkey < 2 then return nil end
  local signature = pipe(ms_date .. "\n/" .. account .. path,
                         "openssl dgst -sha256 -mac HMAC -macopt hexkey:" .. hexkey .. " -binary | openssl base64 -A")
  signature = signature and signature:match("^%s*([%w+/=]+)%s*$")
  if signature and #signature == 44 then return signature end
  return nil
end
local signature = sign() or "ZmFrZS1zaWduYXR1cmUtZmFrZS1zaWduYXR1cmUtMDA="

wrk.method = "GET"
wrk.path = path
wrk.body = nil
wrk.headers["Host"] = host
wrk.headers["Accept"] = "application/json;odata=minimalmetadata"
wrk.headers["x-ms-version"] = "2019-02-02"
wrk.headers["DataServiceVersion"] = "3.0"
wrk.headers["Accept-Encoding"] = "gzip,deflate"
wrk.headers["User-Agent"] = "azsdk-js-data-tables/13.3.2 core-rest-pipeline/1.24.0 Node/20 (Linux; x64)"
wrk.headers["x-ms-client-request-id"] = "3412388d-8355-4289-8fa3-26a44a2f73dd"
wrk.headers["x-ms-date"] = ms_date
wrk.headers["Authorization"] = "SharedKeyLite " .. account .. ":" .. signature
-- (no request() function, so the request is built once.)

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
    '{"client":"wrk","engine":"azure","workload":"get","concurrency":%d,"ops":%d,"errors":%d,' ..
    '"seconds":%s,"ops_per_sec":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s,"cpu_us_per_op":null,' ..
    '"cpu_s_per_10k_ops":null,"peak_rss_mb":null,"version":"%s"}\n',
    connections(args), n, errors, num(seconds, 3), num(seconds > 0 and n / seconds or nil, 1),
    pct(50), pct(99), pct(99.9), wrk_version(args)))
end
