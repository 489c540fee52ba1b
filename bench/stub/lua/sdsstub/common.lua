-- Pieces shared by the DynamoDB and Azure Table handlers of the stub server:
-- the shared-memory store, per-key write locks, JSON helpers and exact
-- decimal arithmetic on DynamoDB numbers.
--
-- Every handler runs without yielding between reading an item and writing it
-- back, so with one worker process a read-modify-write is atomic by itself;
-- with several workers it takes the key's lock (a shared-memory `add`), which
-- other workers wait for.

local cjson = require("cjson")
local cjson_safe = require("cjson.safe")

local byte, find, format, sub = string.byte, string.find, string.format, string.sub
local tonumber, tostring, type, concat = tonumber, tostring, type, table.concat
local floor = math.floor

local M = {}

M.tables = ngx.shared.sds_stub_tables  -- table definitions, counters
M.items = ngx.shared.sds_stub_items    -- items and entities
local locks = ngx.shared.sds_stub_locks

M.null = cjson.null
M.decode = cjson_safe.decode  -- nil, error on malformed JSON
M.encode_string = cjson.encode  -- a Lua string as a quoted, escaped JSON string

cjson.encode_number_precision(14)  -- the most lua-cjson 2.1 offers
cjson.decode_max_depth(64)

-- ---------------------------------------------------------------------------
-- Per-key write locks

local single_worker = true

function M.init_worker()
    single_worker = ngx.worker.count() == 1
end

-- A lock holder never yields, so a lock is held for microseconds; the expiry
-- only frees the key if a worker dies holding it.
local lock_expiry = 0.1
local spin_tries = 200

-- Takes the write lock of `key` when other workers could race this one.
-- Returns the lock's name (pass it to unlock) or nil when none is needed.
function M.lock(key)
    if single_worker then return nil end
    local name = "L" .. key
    for i = 1, 20000 do
        local ok, err = locks:add(name, true, lock_expiry)
        if ok then return name end
        if err ~= "exists" then error("lock: " .. tostring(err)) end
        -- Held by another worker, on another core: spin briefly, then yield.
        if i > spin_tries then ngx.sleep(0.001) end
    end
    error("lock: timed out waiting for " .. key)
end

function M.unlock(name)
    if name then locks:delete(name) end
end

-- Stores `value` under `key`, never evicting other items to make room (a
-- full dictionary is an error, not silent data loss).
function M.store(key, value)
    local ok, err = M.items:safe_set(key, value)
    if not ok then error("store: " .. tostring(err) .. " (raise STUB_ITEMS_SIZE)") end
end

-- Deletes every item whose key starts with `prefix` (a table being dropped).
function M.delete_prefix(prefix)
    local items = M.items
    local keys = items:get_keys(0)
    local n = #prefix
    for i = 1, #keys do
        local k = keys[i]
        if sub(k, 1, n) == prefix then items:delete(k) end
    end
end

-- All keys of `dict` that start with `prefix`, the prefix cut off, sorted.
function M.names_with_prefix(dict, prefix)
    local keys = dict:get_keys(0)
    local out, n = {}, #prefix
    for i = 1, #keys do
        local k = keys[i]
        if sub(k, 1, n) == prefix then out[#out + 1] = sub(k, n + 1) end
    end
    table.sort(out)
    return out
end

-- ---------------------------------------------------------------------------
-- Time

local last_sec, last_prefix

-- "2026-11-26T16:00:00." for the current second, cached.
local function second_prefix(sec)
    if sec ~= last_sec then
        last_sec = sec
        last_prefix = os.date("!%Y-%m-%dT%H:%M:%S.", sec)
    end
    return last_prefix
end

-- The current time in ISO 8601 with milliseconds: 2026-11-26T16:00:00.123Z.
function M.iso_now()
    local now = ngx.now()
    local sec = floor(now)
    local ms = floor((now - sec) * 1000)
    return format("%s%03dZ", second_prefix(sec), ms)
end

-- A timestamp with 7 fractional digits that differs from every other one this
-- server hands out within the same millisecond: the milliseconds, then a
-- shared 4-digit sequence number. Entities' ETags are made from it.
function M.unique_timestamp()
    local now = ngx.now()
    local sec = floor(now)
    local ms = floor((now - sec) * 1000)
    local seq = M.tables:incr("#seq", 1, 0) % 10000
    return format("%s%03d%04dZ", second_prefix(sec), ms, seq)
end

-- ---------------------------------------------------------------------------
-- Numbers (DynamoDB's N: decimal text, up to 38 significant digits)

local function is_integer(s)
    return find(s, "^%-?%d+$") ~= nil
end
M.is_integer = is_integer

-- Digits of a non-negative integer without leading zeros ("" for zero).
local function strip_zeros(d)
    local i = 1
    while byte(d, i) == 48 do i = i + 1 end
    return sub(d, i)
end

-- |a| compared with |b|, both digit strings without leading zeros: -1, 0, 1.
local function compare_magnitude(a, b)
    if #a ~= #b then return #a < #b and -1 or 1 end
    if a == b then return 0 end
    return a < b and -1 or 1
end

local function add_magnitudes(a, b)
    local out, carry = {}, 0
    local i, j = #a, #b
    while i > 0 or j > 0 or carry > 0 do
        local s = carry + (i > 0 and byte(a, i) - 48 or 0) + (j > 0 and byte(b, j) - 48 or 0)
        out[#out + 1] = s % 10
        carry = s >= 10 and 1 or 0
        i, j = i - 1, j - 1
    end
    return strip_zeros(concat(out):reverse())
end

-- a - b for magnitudes with a >= b.
local function sub_magnitudes(a, b)
    local out, borrow = {}, 0
    local i, j = #a, #b
    while i > 0 do
        local d = byte(a, i) - 48 - borrow - (j > 0 and byte(b, j) - 48 or 0)
        if d < 0 then d, borrow = d + 10, 1 else borrow = 0 end
        out[#out + 1] = d
        i, j = i - 1, j - 1
    end
    return strip_zeros(concat(out):reverse())
end

local function split_sign(s)
    if byte(s, 1) == 45 then return true, strip_zeros(sub(s, 2)) end
    return false, strip_zeros(s)
end

local function join_sign(negative, digits)
    if digits == "" then return "0" end
    return negative and "-" .. digits or digits
end

local function big_add(a, b)
    local na, da = split_sign(a)
    local nb, db = split_sign(b)
    if na == nb then return join_sign(na, add_magnitudes(da, db)) end
    local c = compare_magnitude(da, db)
    if c == 0 then return "0" end
    if c > 0 then return join_sign(na, sub_magnitudes(da, db)) end
    return join_sign(nb, sub_magnitudes(db, da))
end

-- A double as DynamoDB would print it: shortest exact-enough decimal text.
local function format_double(x)
    if x == floor(x) and x > -1e15 and x < 1e15 then return format("%d", x) end
    local s = format("%.15g", x)
    if find(s, "e", 1, true) then s = format("%.15f", x):gsub("0+$", ""):gsub("%.$", "") end
    return s
end

-- a + b for DynamoDB numbers given as text; exact for integers of any size
-- (the common case, counters), double precision for other decimals.
function M.number_add(a, b)
    if #a < 16 and #b < 16 and is_integer(a) and is_integer(b) then
        return format("%d", tonumber(a) + tonumber(b))  -- both below 10^15: exact
    end
    if is_integer(a) and is_integer(b) then return big_add(a, b) end
    local x, y = tonumber(a), tonumber(b)
    if not x or not y then return nil end
    return format_double(x + y)
end

function M.number_negate(a)
    if byte(a, 1) == 45 then return sub(a, 2) end
    return "-" .. a
end

-- Compares two DynamoDB numbers given as text: -1, 0, 1 (nil if malformed).
function M.number_compare(a, b)
    if (#a >= 16 or #b >= 16) and is_integer(a) and is_integer(b) then
        local na, da = split_sign(a)
        local nb, db = split_sign(b)
        if da == "" then na = false end
        if db == "" then nb = false end
        if na ~= nb then return na and -1 or 1 end
        local c = compare_magnitude(da, db)
        return na and -c or c
    end
    local x, y = tonumber(a), tonumber(b)
    if not x or not y then return nil end
    if x == y then return 0 end
    return x < y and -1 or 1
end

-- Whether `s` is a DynamoDB number.
function M.is_number(s)
    return type(s) == "string" and find(s, "^%-?%d*%.?%d+[eE]?[-+]?%d*$") ~= nil and tonumber(s) ~= nil
end

-- ---------------------------------------------------------------------------
-- JSON

-- A Lua number as JSON: integers without a fraction, others to 17 digits.
function M.json_number(x)
    if x == floor(x) and x > -9007199254740992 and x < 9007199254740992 then return format("%d", x) end
    return format("%.17g", x)
end

return M
