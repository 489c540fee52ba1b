-- The DynamoDB side of the stub server: the JSON 1.0 protocol
-- (POST /, X-Amz-Target: DynamoDB_20120810.<Operation>), answered from the
-- shared-memory store.
--
-- Tables: "d:<name>" holds the key schema ("hash\tS" or "hash\tS\trange\tN"),
-- "D:<name>" the TableDescription JSON. Items: "i|<table>|<hash>[\0<range>]"
-- holds the item's DynamoDB JSON, which GetItem and BatchGetItem answer
-- without decoding it again.
--
-- Every answer carries x-amz-crc32 (CRC32 of the body, decimal), Content-Type
-- application/x-amz-json-1.0 (the server's default_type) and x-amzn-RequestId
-- (added by the configuration). Signatures are not checked.

local common = require("sdsstub.common")
local expr = require("sdsstub.expr")

local ngx = ngx
local var, header, req_read_body, req_get_body_data, get_method = ngx.var, ngx.header, ngx.req.read_body,
    ngx.req.get_body_data, ngx.req.get_method
local crc32_long, ngx_print = ngx.crc32_long, ngx.print
local find, sub, format = string.find, string.sub, string.format
local concat = table.concat
local type, pairs, ipairs, next, pcall, tostring, tonumber, error = type, pairs, ipairs, next, pcall, tostring,
    tonumber, error

local tables, items = common.tables, common.items
local decode, encode_string, store = common.decode, common.encode_string, common.store
local invalid = expr.invalid

local M = {}

-- ---------------------------------------------------------------------------
-- Errors: raised as tables, answered by handle()

local error_namespaces = {
    ValidationException = "com.amazon.coral.validate#",
    SerializationException = "com.amazon.coral.service#",
    UnknownOperationException = "com.amazon.coral.service#",
    InternalFailure = "com.amazon.coral.service#",
}
local dynamodb_namespace = "com.amazonaws.dynamodb.v20120810#"

local function fail(type_, message, extra)
    error({ type = type_, message = message, extra = extra }, 0)
end

local function not_found(name)
    fail("ResourceNotFoundException", "Requested resource not found: Table: " .. tostring(name) .. " not found")
end

-- ---------------------------------------------------------------------------
-- Attribute values as JSON. Written by hand rather than with cjson.encode so
-- that lists and sets stay arrays when empty, and every value is checked.

local encode_av

local function encode_map(m)
    local parts, n = {}, 0
    for k, v in pairs(m) do
        n = n + 1
        parts[n] = encode_string(k) .. ":" .. encode_av(v)
    end
    return "{" .. concat(parts, ",") .. "}"
end

local function string_list(list, t, check)
    if type(list) ~= "table" or #list == 0 then
        invalid("One or more parameter values were invalid: An string set may not be empty")
    end
    local parts = {}
    for i = 1, #list do
        local e = list[i]
        if type(e) ~= "string" or (check and not common.is_number(e)) then
            invalid("One or more parameter values were invalid: invalid " .. t .. " element")
        end
        parts[i] = encode_string(e)
    end
    return '{"' .. t .. '":[' .. concat(parts, ",") .. "]}"
end

encode_av = function(av)
    if type(av) ~= "table" then invalid("Supplied AttributeValue is not an object") end
    local t, v = next(av)
    if t == nil then
        invalid("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    end
    if next(av, t) ~= nil then
        invalid("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported " ..
            "datatypes")
    end
    if t == "S" or t == "B" then
        if type(v) ~= "string" then invalid("Invalid " .. t .. " value") end
        return '{"' .. t .. '":' .. encode_string(v) .. "}"
    elseif t == "N" then
        if not common.is_number(v) then
            invalid("A value provided cannot be converted into a number")
        end
        return '{"N":' .. encode_string(v) .. "}"
    elseif t == "BOOL" then
        if type(v) ~= "boolean" then invalid("Invalid BOOL value") end
        return v and '{"BOOL":true}' or '{"BOOL":false}'
    elseif t == "NULL" then
        return '{"NULL":true}'
    elseif t == "SS" or t == "BS" then
        return string_list(v, t, false)
    elseif t == "NS" then
        return string_list(v, t, true)
    elseif t == "L" then
        if type(v) ~= "table" then invalid("Invalid L value") end
        local parts = {}
        for i = 1, #v do parts[i] = encode_av(v[i]) end
        return '{"L":[' .. concat(parts, ",") .. "]}"
    elseif t == "M" then
        if type(v) ~= "table" then invalid("Invalid M value") end
        return '{"M":' .. encode_map(v) .. "}"
    end
    invalid("Supplied AttributeValue has an unsupported datatype: " .. tostring(t))
end

-- An item (attribute name -> value) as JSON.
local encode_item = encode_map

-- ---------------------------------------------------------------------------
-- Tables

-- Key schemas by table name, parsed from the "d:<name>" record (re-parsed
-- when the record changes, i.e. the table was recreated differently).
local defs = {}

local function table_def(name)
    if type(name) ~= "string" then
        invalid("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must " ..
            "not be null")
    end
    local spec = tables:get("d:" .. name)
    if not spec then not_found(name) end
    local def = defs[name]
    if def and def.spec == spec then return def end
    local hash, htype, range, rtype = spec:match("^([^\t]+)\t(%u)\t?([^\t]*)\t?(%u?)$")
    def = {
        spec = spec, name = name, prefix = "i|" .. name .. "|",
        hash = hash, htype = htype, range = range ~= "" and range or nil, rtype = rtype ~= "" and rtype or nil,
    }
    defs[name] = def
    return def
end

local function schema_mismatch()
    invalid("The provided key element does not match the schema")
end

-- The store key of the item whose key attributes are in `key`. With
-- `whole_item` false, `key` must hold exactly the key attributes (a Key
-- parameter); with true it is an item that holds them among others.
local function key_id(def, key, whole_item)
    if type(key) ~= "table" then schema_mismatch() end
    local hv = key[def.hash]
    local h = type(hv) == "table" and hv[def.htype]
    if type(h) ~= "string" then schema_mismatch() end
    if h == "" then
        invalid("One or more parameter values are not valid. The AttributeValue for a key attribute cannot " ..
            "contain an empty string value. Key: " .. def.hash)
    end
    local range = def.range
    if not range then
        if not whole_item and next(key, next(key)) ~= nil then schema_mismatch() end
        return def.prefix .. h
    end
    local rv = key[range]
    local r = type(rv) == "table" and rv[def.rtype]
    if type(r) ~= "string" then schema_mismatch() end
    if not whole_item then
        local k1 = next(key)
        if next(key, next(key, k1)) ~= nil then schema_mismatch() end
    end
    return def.prefix .. h .. "\0" .. r
end

local function key_attributes(def, key)
    local item = { [def.hash] = key[def.hash] }
    if def.range then item[def.range] = key[def.range] end
    return item
end

local function region_of_request()
    local auth = var.http_authorization
    local region = auth and auth:match("Credential=[^/]+/%d+/([^/]+)/")
    return region or "us-east-1"
end

local function valid_table_name(name)
    return type(name) == "string" and #name >= 3 and #name <= 255 and find(name, "^[%w_.-]+$") ~= nil
end

local function capacity(pt)
    local r = type(pt) == "table" and tonumber(pt.ReadCapacityUnits)
    local w = type(pt) == "table" and tonumber(pt.WriteCapacityUnits)
    if not r or not w or r < 1 or w < 1 then
        invalid("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both " ..
            "be specified and at least 1")
    end
    return r, w
end

local function describe(name)
    local desc = tables:get("D:" .. name)
    if not desc then not_found(name) end
    return desc
end

local ops = {}

function ops.CreateTable(req)
    local name = req.TableName
    if not valid_table_name(name) then
        invalid("TableName must be 3 to 255 characters of [a-zA-Z0-9_.-]")
    end
    local types = {}
    if type(req.AttributeDefinitions) ~= "table" then invalid("AttributeDefinitions is required") end
    for _, d in ipairs(req.AttributeDefinitions) do
        local t = type(d) == "table" and d.AttributeType
        if not (t == "S" or t == "N" or t == "B") or type(d.AttributeName) ~= "string" then
            invalid("Invalid AttributeDefinitions")
        end
        types[d.AttributeName] = d.AttributeType
    end
    local hash, range
    if type(req.KeySchema) ~= "table" then invalid("KeySchema is required") end
    for _, k in ipairs(req.KeySchema) do
        if type(k) ~= "table" or not types[k.AttributeName] then
            invalid("One or more parameter values were invalid: Some index key attributes are not defined in " ..
                "AttributeDefinitions")
        end
        if k.KeyType == "HASH" and not hash then hash = k.AttributeName
        elseif k.KeyType == "RANGE" and not range then range = k.AttributeName
        else invalid("Invalid KeySchema") end
    end
    if not hash then invalid("Invalid KeySchema: no HASH key") end
    if req.GlobalSecondaryIndexes or req.LocalSecondaryIndexes then
        invalid("the sds benchmark stub does not implement secondary indexes")
    end
    local mode = req.BillingMode or "PROVISIONED"
    local read, write = 0, 0
    if mode == "PROVISIONED" then
        read, write = capacity(req.ProvisionedThroughput)
    elseif mode ~= "PAY_PER_REQUEST" then
        invalid("BillingMode must be PROVISIONED or PAY_PER_REQUEST")
    end

    local spec = hash .. "\t" .. types[hash] .. (range and ("\t" .. range .. "\t" .. types[range]) or "")
    local ok, err = tables:add("d:" .. name, spec)
    if not ok then
        if err == "exists" then fail("ResourceInUseException", "Table already exists: " .. name) end
        error("CreateTable: " .. tostring(err))
    end
    local now = ngx.now()
    local id = var.request_id
    local desc = {
        TableName = name,
        TableStatus = "ACTIVE",
        AttributeDefinitions = req.AttributeDefinitions,
        KeySchema = req.KeySchema,
        CreationDateTime = now,
        ItemCount = 0,
        TableSizeBytes = 0,
        TableArn = "arn:aws:dynamodb:" .. region_of_request() .. ":000000000000:table/" .. name,
        TableId = format("%s-%s-%s-%s-%s", sub(id, 1, 8), sub(id, 9, 12), sub(id, 13, 16), sub(id, 17, 20),
            sub(id, 21, 32)),
        ProvisionedThroughput = { ReadCapacityUnits = read, WriteCapacityUnits = write, NumberOfDecreasesToday = 0 },
        DeletionProtectionEnabled = false,
    }
    if mode == "PAY_PER_REQUEST" then
        desc.BillingModeSummary = { BillingMode = mode, LastUpdateToPayPerRequestDateTime = now }
    end
    local json = require("cjson").encode(desc)
    tables:set("D:" .. name, json)
    return '{"TableDescription":' .. json .. "}"
end

function ops.DescribeTable(req)
    local name = req.TableName
    return '{"Table":' .. describe(name) .. "}"
end

function ops.DeleteTable(req)
    local name = req.TableName
    local desc = decode(describe(name))
    tables:delete("d:" .. name)
    tables:delete("D:" .. name)
    common.delete_prefix("i|" .. name .. "|")
    desc.TableStatus = "DELETING"
    return '{"TableDescription":' .. require("cjson").encode(desc) .. "}"
end

function ops.UpdateTable(req)
    local name = req.TableName
    local desc = decode(describe(name))
    local mode = req.BillingMode
    if mode == "PAY_PER_REQUEST" then
        desc.BillingModeSummary = { BillingMode = mode, LastUpdateToPayPerRequestDateTime = ngx.now() }
        desc.ProvisionedThroughput = { ReadCapacityUnits = 0, WriteCapacityUnits = 0, NumberOfDecreasesToday = 0 }
    elseif mode == "PROVISIONED" or req.ProvisionedThroughput then
        local read, write = capacity(req.ProvisionedThroughput)
        desc.BillingModeSummary = nil
        desc.ProvisionedThroughput = {
            ReadCapacityUnits = read, WriteCapacityUnits = write, NumberOfDecreasesToday = 0,
        }
    end
    local json = require("cjson").encode(desc)
    tables:set("D:" .. name, json)
    return '{"TableDescription":' .. json .. "}"
end

function ops.ListTables(req)
    local names = common.names_with_prefix(tables, "d:")
    local limit = tonumber(req.Limit) or 100
    if limit < 1 or limit > 100 then invalid("Limit must be between 1 and 100") end
    local start = req.ExclusiveStartTableName
    local out, last = {}, nil
    for i = 1, #names do
        local n = names[i]
        if not start or n > start then
            if #out == limit then
                last = out[#out]
                break
            end
            out[#out + 1] = encode_string(n)
        end
    end
    local body = '{"TableNames":[' .. concat(out, ",") .. "]"
    if last then body = body .. ',"LastEvaluatedTableName":' .. last end
    return body .. "}"
end

function ops.DescribeEndpoints()
    return '{"Endpoints":[{"Address":' .. encode_string(var.http_host or "127.0.0.1") ..
        ',"CachePeriodInMinutes":1440}]}'
end

-- ---------------------------------------------------------------------------
-- Items

local function context(req)
    return { names = req.ExpressionAttributeNames, values = req.ExpressionAttributeValues }
end

local function refuse_legacy(req)
    if req.Expected or req.AttributeUpdates or req.ConditionalOperator then
        invalid("the sds benchmark stub does not implement the legacy Expected/AttributeUpdates parameters; " ..
            "use expressions")
    end
end

-- The write lock held by the running operation, released by handle() if the
-- operation fails while holding it.
local held

local function lock(id)
    held = common.lock(id)
end

local function unlock()
    common.unlock(held)
    held = nil
end

-- Raises ConditionalCheckFailedException unless `item` (decoded, or nil)
-- satisfies the request's ConditionExpression.
local function check_condition(req, item, raw)
    local ast = expr.parse_condition(req.ConditionExpression)
    if not expr.check(ast, item, context(req)) then
        local extra
        if raw and req.ReturnValuesOnConditionCheckFailure == "ALL_OLD" then extra = ',"Item":' .. raw end
        fail("ConditionalCheckFailedException", "The conditional request failed", extra)
    end
end

-- The item limited to the attributes a projection names.
local function project(raw, list, ctx)
    local item = decode(raw)
    local out = {}
    for i = 1, #list do
        local n = expr.resolve_name(list[i], ctx)
        out[n] = item[n]
    end
    return encode_item(out)
end

local function projection_of(spec)
    if spec.ProjectionExpression then return expr.parse_projection(spec.ProjectionExpression) end
    local atg = spec.AttributesToGet
    if type(atg) == "table" and #atg > 0 then return atg end
    return nil
end

local return_values = {
    NONE = true, ALL_OLD = true, UPDATED_OLD = true, ALL_NEW = true, UPDATED_NEW = true,
}

local function check_return_values(rv, allowed_all)
    if rv ~= nil and (not return_values[rv] or (not allowed_all and rv ~= "NONE" and rv ~= "ALL_OLD")) then
        invalid("Return values set to invalid value: " .. tostring(rv))
    end
end

function ops.GetItem(req)
    local def = table_def(req.TableName)
    local raw = items:get(key_id(def, req.Key, false))
    if not raw then return "{}" end
    local projection = projection_of(req)
    if projection then raw = project(raw, projection, context(req)) end
    return '{"Item":' .. raw .. "}"
end

function ops.PutItem(req)
    local def = table_def(req.TableName)
    refuse_legacy(req)
    local rv = req.ReturnValues
    check_return_values(rv, false)
    local item = req.Item
    local id = key_id(def, item, true)
    local json = encode_item(item)
    lock(id)
    local old
    if req.ConditionExpression or rv == "ALL_OLD" then old = items:get(id) end
    if req.ConditionExpression then check_condition(req, old and decode(old), old) end
    store(id, json)
    unlock()
    if rv == "ALL_OLD" and old then return '{"Attributes":' .. old .. "}" end
    return "{}"
end

function ops.DeleteItem(req)
    local def = table_def(req.TableName)
    refuse_legacy(req)
    local rv = req.ReturnValues
    check_return_values(rv, false)
    local id = key_id(def, req.Key, false)
    lock(id)
    local old = items:get(id)
    if req.ConditionExpression then check_condition(req, old and decode(old), old) end
    if old then items:delete(id) end
    unlock()
    if rv == "ALL_OLD" and old then return '{"Attributes":' .. old .. "}" end
    return "{}"
end

-- The attributes named in `names` that `item` holds, as JSON ("{}" if none).
local function attributes_of(item, names)
    local out, any = {}, false
    for i = 1, #names do
        local n = names[i]
        local v = item and item[n]
        if v ~= nil then
            out[n] = v
            any = true
        end
    end
    if not any then return "{}" end
    return '{"Attributes":' .. encode_item(out) .. "}"
end

function ops.UpdateItem(req)
    local def = table_def(req.TableName)
    refuse_legacy(req)
    local rv = req.ReturnValues or "NONE"
    check_return_values(rv, true)
    local key = req.Key
    local id = key_id(def, key, false)
    local actions = req.UpdateExpression and expr.parse_update(req.UpdateExpression)
    local ctx = context(req)
    if actions then
        for i = 1, #actions do
            local n = expr.resolve_name(actions[i].path.first, ctx)
            if n == def.hash or n == def.range then
                invalid("One or more parameter values were invalid: Cannot update attribute " .. n ..
                    ". This attribute is part of the key")
            end
        end
    end

    lock(id)
    local old = items:get(id)
    local item = old and decode(old)
    if req.ConditionExpression then check_condition(req, item, old) end
    local before = rv == "UPDATED_OLD" and item and decode(old)
    item = item or key_attributes(def, key)
    local written = actions and expr.apply_update(actions, item, ctx) or {}
    local json = encode_item(item)
    store(id, json)
    unlock()

    if rv == "NONE" then return "{}" end
    if rv == "UPDATED_NEW" then return attributes_of(item, written) end
    if rv == "ALL_NEW" then return '{"Attributes":' .. json .. "}" end
    if rv == "ALL_OLD" then return old and '{"Attributes":' .. old .. "}" or "{}" end
    return attributes_of(before, written)  -- UPDATED_OLD
end

local batch_get_limit, batch_write_limit = 100, 25

function ops.BatchGetItem(req)
    local request_items = req.RequestItems
    if type(request_items) ~= "table" or next(request_items) == nil then
        invalid("The requestItems parameter is required for BatchGetItem")
    end
    local parts, count = {}, 0
    for name, spec in pairs(request_items) do
        local def = table_def(name)
        local keys = type(spec) == "table" and spec.Keys
        if type(keys) ~= "table" or #keys == 0 then invalid("Keys must not be empty") end
        count = count + #keys
        if count > batch_get_limit then
            invalid("Too many items requested for the BatchGetItem call")
        end
        local projection = projection_of(spec)
        local ctx = projection and context(spec)
        local found, seen = {}, {}
        for i = 1, #keys do
            local id = key_id(def, keys[i], false)
            if seen[id] then invalid("Provided list of item keys contains duplicates") end
            seen[id] = true
            local raw = items:get(id)
            if raw then
                found[#found + 1] = projection and project(raw, projection, ctx) or raw
            end
        end
        parts[#parts + 1] = encode_string(name) .. ":[" .. concat(found, ",") .. "]"
    end
    return '{"Responses":{' .. concat(parts, ",") .. '},"UnprocessedKeys":{}}'
end

function ops.BatchWriteItem(req)
    local request_items = req.RequestItems
    if type(request_items) ~= "table" or next(request_items) == nil then
        invalid("The requestItems parameter is required for BatchWriteItem")
    end
    -- Checked whole before anything is written, as the service does.
    local writes, count = {}, 0
    for name, list in pairs(request_items) do
        local def = table_def(name)
        if type(list) ~= "table" or #list == 0 then invalid("The list of write requests must not be empty") end
        for i = 1, #list do
            count = count + 1
            if count > batch_write_limit then
                invalid("Too many items requested for the BatchWriteItem call")
            end
            local r = list[i]
            local put, del = type(r) == "table" and r.PutRequest, type(r) == "table" and r.DeleteRequest
            if put and not del and type(put) == "table" then
                writes[#writes + 1] = { key_id(def, put.Item, true), encode_item(put.Item) }
            elseif del and not put and type(del) == "table" then
                writes[#writes + 1] = { key_id(def, del.Key, false), false }
            else
                invalid("Supplied WriteRequest must hold exactly one of PutRequest and DeleteRequest")
            end
        end
    end
    for i = 1, #writes do
        local w = writes[i]
        lock(w[1])
        if w[2] then store(w[1], w[2]) else items:delete(w[1]) end
        unlock()
    end
    return '{"UnprocessedItems":{}}'
end

-- ---------------------------------------------------------------------------
-- The request handler

local handlers = {}
for name, fn in pairs(ops) do handlers["DynamoDB_20120810." .. name] = fn end

local function respond(status, body)
    if status ~= 200 then ngx.status = status end  -- 200 is the default
    header["Content-Length"] = #body
    header["x-amz-crc32"] = crc32_long(body)
    ngx_print(body)
end

local function respond_error(status, type_, message, extra)
    local body = '{"__type":"' .. (error_namespaces[type_] or dynamodb_namespace) .. type_ .. '"'
    if message then body = body .. ',"message":' .. encode_string(message) end
    respond(status, body .. (extra or "") .. "}")
end

function M.handle()
    local target = var.http_x_amz_target
    local op = target and handlers[target]
    if not op then
        local method = get_method()
        if method == "GET" and not target then
            -- The service's health check answer.
            header["Content-Type"] = "text/plain"
            return respond(200, "healthy: dynamodb (sds benchmark stub)")
        end
        if method ~= "POST" then return respond_error(405, "UnknownOperationException", "use POST") end
        return respond_error(400, "UnknownOperationException",
            target and ("operation " .. target .. " is not implemented by the sds benchmark stub") or nil)
    end
    req_read_body()
    local body = req_get_body_data()
    local req = body and decode(body)
    if type(req) ~= "table" then
        return respond_error(400, "SerializationException",
            body and "Start of structure or map found where not expected." or
            (var.request_body_file and "request body too large for the stub" or "empty request body"))
    end
    local ok, result = pcall(op, req)
    if ok then return respond(200, result) end
    if held then unlock() end
    if type(result) == "table" then
        return respond_error(result.type == "InternalFailure" and 500 or 400, result.type, result.message, result.extra)
    end
    ngx.log(ngx.ERR, "DynamoDB ", target, ": ", tostring(result))
    return respond_error(500, "InternalServerError", "internal error in the sds benchmark stub: " .. tostring(result))
end

return M
