-- The Azure Table Storage side of the stub server: the Table service's REST
-- protocol (x-ms-version 2019-02-02, OData JSON) with path-style URLs as
-- Azurite serves them, http://host:port/<account>/<resource>.
--
-- Tables: "a:<lower-case name>" holds the name as created (names are
-- case-insensitive). Entities: "e|<lower-case table>|<PartitionKey>\0<RowKey>"
-- holds the ETag, the Timestamp and the entity's JSON members in the
-- minimalmetadata form (keys first, "name@odata.type" annotations for the
-- types that keep them), so a point read answers without decoding it.
--
-- Every answer carries x-ms-request-id, x-ms-version and the echoed
-- x-ms-client-request-id (added by the configuration), and Date (nginx).
-- Signatures are not checked.

local common = require("sdsstub.common")

local ngx = ngx
local var, header, req_read_body, req_get_body_data, get_method = ngx.var, ngx.header, ngx.req.read_body,
    ngx.req.get_body_data, ngx.req.get_method
local ngx_print, unescape_uri = ngx.print, ngx.unescape_uri
local find, sub, byte, lower, upper, gsub = string.find, string.sub, string.byte, string.lower, string.upper,
    string.gsub
local concat, sort = table.concat, table.sort
local type, pairs, pcall, tostring, tonumber, error = type, pairs, pcall, tostring, tonumber, error
local floor = math.floor

local tables, items = common.tables, common.items
local decode, encode_string, store = common.decode, common.encode_string, common.store

local M = {}

-- ---------------------------------------------------------------------------
-- Errors: raised as tables, answered by handle()

local function fail(status, code, message)
    error({ status = status, code = code, message = message }, 0)
end

local function not_found()
    fail(404, "ResourceNotFound", "The specified resource does not exist.")
end

local function table_not_found()
    fail(404, "TableNotFound", "The table specified does not exist.")
end

local function invalid_input(message)
    fail(400, "InvalidInput", message or "One of the request inputs is not valid.")
end

local function not_implemented(what)
    fail(501, "NotImplemented", what .. " is not implemented by the sds benchmark stub.")
end

-- ---------------------------------------------------------------------------
-- Response formats (the Accept header, or $format in the query)

local NONE, MINIMAL, FULL = 1, 2, 3
local content_types = {
    "application/json;odata=nometadata;streaming=true;charset=utf-8",
    "application/json;odata=minimalmetadata;streaming=true;charset=utf-8",
    "application/json;odata=fullmetadata;streaming=true;charset=utf-8",
}

-- The client's format; a missing or other Accept counts as minimalmetadata
-- (the service would answer Atom XML, which no current client asks for).
local function format_of(accept)
    if not accept then return MINIMAL end
    if find(accept, "nometadata", 1, true) then return NONE end
    if find(accept, "fullmetadata", 1, true) then return FULL end
    return MINIMAL
end

local function respond(status, body, fmt)
    if status ~= 200 then ngx.status = status end  -- 200 is the default
    if body then
        header["Content-Type"] = content_types[fmt]
        header["Content-Length"] = #body
        ngx_print(body)
    end
    -- A bodyless answer (204) is finished by returning from the handler.
end

local function respond_error(status, code, message, fmt)
    -- The x-ms-request-id the configuration adds.
    local request_id = "stub-" .. var.pid .. "-" .. var.connection .. "-" .. var.connection_requests
    local value = message .. "\nRequestId:" .. request_id .. "\nTime:" .. common.iso_now()
    header["x-ms-error-code"] = code
    respond(status, '{"odata.error":{"code":"' .. code .. '","message":{"lang":"en-US","value":' ..
        encode_string(value) .. "}}}", fmt)
end

-- ---------------------------------------------------------------------------
-- ETags and timestamps

-- W/"datetime'2026-11-26T16%3A00%3A00.1234567Z'": the entity's Timestamp with
-- ':' percent-encoded, as the service makes them. unique_timestamp() makes
-- every write's differ.
local function etag_of(ts)
    return "W/\"datetime'" .. sub(ts, 1, 13) .. "%3A" .. sub(ts, 15, 16) .. "%3A" .. sub(ts, 18) .. "'\""
end

local sample_ts = "2026-11-26T16:00:00.1234567Z"
local TS_LEN = #sample_ts
local ETAG_LEN = #etag_of(sample_ts)

-- A stored entity: ETag, Timestamp, members.
local function stored_etag(v) return sub(v, 1, ETAG_LEN) end
local function stored_ts(v) return sub(v, ETAG_LEN + 1, ETAG_LEN + TS_LEN) end
local function stored_members(v) return sub(v, ETAG_LEN + TS_LEN + 1) end

-- The ETag as a JSON string value: W/\"datetime'...'\"
local function etag_json(etag)
    return 'W/\\"' .. sub(etag, 4, -2) .. '\\"'
end

-- ---------------------------------------------------------------------------
-- Entity properties

-- Types whose annotation minimalmetadata keeps (the others are told apart by
-- their JSON type). Edm.Double keeps it for the string values NaN, Infinity
-- and -Infinity, and here also for integral values (written 2.0), so that a
-- merge that decodes the stored members still knows them as doubles.
local annotated = { ["Edm.Int64"] = true, ["Edm.Binary"] = true, ["Edm.DateTime"] = true, ["Edm.Guid"] = true }
local known_types = {
    ["Edm.String"] = "string", ["Edm.Int32"] = "number", ["Edm.Int64"] = "string", ["Edm.Double"] = true,
    ["Edm.Boolean"] = "boolean", ["Edm.DateTime"] = "string", ["Edm.Guid"] = "string", ["Edm.Binary"] = "string",
}
local system_properties = { PartitionKey = true, RowKey = true, Timestamp = true }
local ANNOTATION = "@odata.type"

-- The properties of a JSON entity (decoded): name -> value, name -> type.
-- System properties, OData members and null values are left out.
local function properties_of(entity)
    local props, types = {}, {}
    for k, v in pairs(entity) do
        if type(k) ~= "string" then invalid_input() end
        if not system_properties[k] and sub(k, 1, 6) ~= "odata." and not find(k, "@", 1, true) and
            v ~= common.null then
            local tv = type(v)
            if tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
                invalid_input("The property '" .. k .. "' has a value of an unsupported type.")
            end
            props[k] = v
            local t = entity[k .. ANNOTATION]
            if t ~= nil then
                local want = known_types[t]
                if not want then
                    invalid_input("The type '" .. tostring(t) .. "' of property '" .. k .. "' is not supported.")
                end
                if (want ~= true and want ~= tv) or (t == "Edm.Int64" and not find(v, "^%-?%d+$")) then
                    invalid_input("The value of property '" .. k .. "' is not a valid " .. t .. ".")
                end
                types[k] = t
            end
        end
    end
    return props, types
end

local function json_value(v, t)
    local tv = type(v)
    if tv == "string" then return encode_string(v) end
    if tv == "boolean" then return v and "true" or "false" end
    local s = common.json_number(v)
    if t == "Edm.Double" and not find(s, "[.eE]") then s = s .. ".0" end
    return s
end

-- The stored members: the keys first (each left out when nil), then the
-- properties sorted by name, each after its annotation where
-- minimalmetadata keeps one (and none at all with `bare`).
local function members(pk, rk, props, types, bare)
    local names, n = {}, 0
    for k in pairs(props) do
        n = n + 1
        names[n] = k
    end
    sort(names)
    local parts = {}
    if pk then parts[#parts + 1] = '"PartitionKey":' .. encode_string(pk) end
    if rk then parts[#parts + 1] = '"RowKey":' .. encode_string(rk) end
    for i = 1, n do
        local k = names[i]
        local v, t = props[k], types[k]
        if not bare and t and (annotated[t] or (t == "Edm.Double" and (type(v) == "string" or v == floor(v)))) then
            parts[#parts + 1] = encode_string(k .. ANNOTATION) .. ':"' .. t .. '"'
        end
        parts[#parts + 1] = encode_string(k) .. ":" .. json_value(v, t)
    end
    return concat(parts, ",")
end

-- The stored members decoded: properties, types, PartitionKey, RowKey.
local function decode_members(m)
    local entity = decode("{" .. m .. "}")
    local props, types = {}, {}
    for k, v in pairs(entity) do
        local at = find(k, "@", 1, true)
        if at then
            types[sub(k, 1, at - 1)] = v
        elseif not system_properties[k] then
            props[k] = v
        end
    end
    return props, types, entity.PartitionKey, entity.RowKey
end

-- The stored members as the client asked to see them: without annotations
-- (nometadata), or only the properties $select names (a set; nil for all).
local function reshape(m, fmt, select)
    if fmt ~= NONE and not select then return m end
    local props, types, pk, rk = decode_members(m)
    if select then
        local picked, picked_types = {}, {}
        for k, v in pairs(props) do
            if select[k] then picked[k], picked_types[k] = v, types[k] end
        end
        props, types = picked, picked_types
        if not select.PartitionKey then pk = nil end
        if not select.RowKey then rk = nil end
    end
    return members(pk, rk, props, types, fmt == NONE)
end

-- The $select of a query string, as a set of names; nil for none.
local function selection(value)
    if type(value) ~= "string" then return nil end
    local set = {}
    for n in value:gmatch("[^,%s]+") do set[n] = true end
    return set
end

local function account_of(base)
    return sub(base, find(base, "/[^/]+/$") + 1, -2)
end

-- The address of an entity below the account, as the service writes it.
local function entity_path(tname, pk, rk)
    return tname .. "(PartitionKey='" .. ngx.escape_uri(gsub(pk, "'", "''")) .. "',RowKey='" ..
        ngx.escape_uri(gsub(rk, "'", "''")) .. "')"
end

-- The entity `v` (as stored) as the client asked to see it. `meta` is the
-- odata.metadata member for a single entity, nil for a row of a query.
local function entity_json(fmt, meta, base, tname, path, v, select)
    local etag, ts, m = stored_etag(v), stored_ts(v), reshape(stored_members(v), fmt, select)
    local out = "{"
    if fmt ~= NONE then
        if meta then out = out .. meta end
        if fmt == FULL then
            out = out .. '"odata.type":"' .. account_of(base) .. "." .. tname .. '","odata.id":' ..
                encode_string(base .. path) .. ',"odata.etag":"' .. etag_json(etag) .. '","odata.editLink":' ..
                encode_string(path) .. ","
        else
            out = out .. '"odata.etag":"' .. etag_json(etag) .. '",'
        end
    end
    if m ~= "" then out = out .. m .. "," end
    if select and not select.Timestamp then return sub(out, 1, -2) .. "}" end
    if fmt == FULL then out = out .. '"Timestamp@odata.type":"Edm.DateTime",' end
    return out .. '"Timestamp":"' .. ts .. '"}'
end

local function entity_body(fmt, base, tname, path, v, select)
    if fmt == MINIMAL and not select then
        -- The common point read, in one concatenation.
        return '{"odata.metadata":"' .. base .. "$metadata#" .. tname .. '/@Element","odata.etag":"' ..
            etag_json(stored_etag(v)) .. '",' .. stored_members(v) .. ',"Timestamp":"' .. stored_ts(v) .. '"}'
    end
    local meta = '"odata.metadata":"' .. base .. "$metadata#" .. tname .. '/@Element",'
    return entity_json(fmt, meta, base, tname, path, v, select)
end

-- ---------------------------------------------------------------------------
-- URLs

-- Percent-decodes a path piece ('+' stays '+', as in a path it should).
local function unescape_path(s)
    if not find(s, "%", 1, true) then return s end
    if find(s, "+", 1, true) then s = gsub(s, "%+", "%%2B") end
    return unescape_uri(s)
end

-- An OData string literal starting at s[i] == "'": its value ('' -> ') and
-- the position after its closing quote; nil if unterminated.
local function literal(s, i)
    if byte(s, i) ~= 39 then return nil end
    local from, parts = i + 1, nil
    while true do
        local q = find(s, "'", from, true)
        if not q then return nil end
        if byte(s, q + 1) == 39 then
            parts = parts or {}
            parts[#parts + 1] = sub(s, from, q)
            from = q + 2
        else
            local last = sub(s, from, q - 1)
            if parts then
                parts[#parts + 1] = last
                return concat(parts), q + 1
            end
            return last, q + 1
        end
    end
end

-- "(PartitionKey='a',RowKey='b')" (decoded) -> "a", "b"; nil if malformed.
local function entity_keys(s)
    local pk, rk
    local i = 2
    while true do
        local name_end = find(s, "=", i, true)
        if not name_end then return nil end
        local name = sub(s, i, name_end - 1)
        local value, after = literal(s, name_end + 1)
        if not value then return nil end
        if name == "PartitionKey" then pk = value elseif name == "RowKey" then rk = value else return nil end
        local c = byte(s, after)
        if c == 41 then  -- )
            if after ~= #s or not pk or not rk then return nil end
            return pk, rk
        end
        if c ~= 44 then return nil end  -- ,
        i = after + 1
    end
end

local function query_args()
    local args = ngx.req.get_uri_args(100)
    return args
end

-- ---------------------------------------------------------------------------
-- Tables

local function valid_table_name(name)
    return type(name) == "string" and find(name, "^%a%w%w+$") ~= nil and #name <= 63 and lower(name) ~= "tables"
end

local function read_json_body()
    req_read_body()
    local body = req_get_body_data()
    if not body then
        if var.request_body_file then fail(413, "RequestBodyTooLarge", "The request body is too large.") end
        return nil
    end
    local v = decode(body)
    if type(v) ~= "table" then invalid_input("The request body is not valid JSON.") end
    return v
end

local function preference(status_if_content)
    local prefer = var.http_prefer
    if prefer == "return-no-content" then
        header["Preference-Applied"] = "return-no-content"
        return 204
    end
    if prefer == "return-content" then header["Preference-Applied"] = "return-content" end
    return status_if_content
end

-- A table as a row of Query Tables.
local function table_row(fmt, base, name)
    local row = "{"
    if fmt == FULL then
        local path = "Tables('" .. gsub(name, "'", "''") .. "')"
        row = row .. '"odata.type":"' .. account_of(base) .. '.Tables","odata.id":' .. encode_string(base .. path) ..
            ',"odata.editLink":' .. encode_string(path) .. ","
    end
    return row .. '"TableName":' .. encode_string(name) .. "}"
end

-- A table on its own (Create Table, a table's own address).
local function table_body(fmt, base, name)
    local row = table_row(fmt, base, name)
    if fmt == NONE then return row end
    return '{"odata.metadata":"' .. base .. '$metadata#Tables/@Element",' .. sub(row, 2)
end

local function create_table(fmt, base)
    local body = read_json_body()
    local name = body and body.TableName
    if type(name) ~= "string" or name == "" then fail(400, "TableNameEmpty", "The table name is empty.") end
    if not valid_table_name(name) then
        if #name < 3 or #name > 63 then
            fail(400, "OutOfRangeInput", "The specified resource name length is not within the permissible limits.")
        end
        fail(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
    end
    local ok, err = tables:add("a:" .. lower(name), name)
    if not ok then
        if err == "exists" then fail(409, "TableAlreadyExists", "The table specified already exists.") end
        error("CreateTable: " .. tostring(err))
    end
    local status = preference(201)
    respond(status, status == 201 and table_body(fmt, base, name) or nil, fmt)
end

local function delete_table(name)
    local l = lower(name)
    if not tables:get("a:" .. l) then not_found() end
    tables:delete("a:" .. l)
    common.delete_prefix("e|" .. l .. "|")
    respond(204)
end

local function get_table(fmt, base, name)
    local stored = tables:get("a:" .. lower(name))
    if not stored then not_found() end
    respond(200, table_body(fmt, base, stored), fmt)
end

-- Query Tables: all tables, or the one `TableName eq '<name>'` names, in
-- pages of $top (continued with NextTableName).
local function query_tables(fmt, base)
    local args = query_args()
    local names = {}
    local filter = args["$filter"]
    if filter then
        local name = type(filter) == "string" and filter:match("^%s*TableName%s+eq%s+'(.*)'%s*$")
        if not name then not_implemented("This $filter") end
        name = gsub(name, "''", "'")
        if tables:get("a:" .. lower(name)) == name then names[1] = name end
    else
        local lowered = common.names_with_prefix(tables, "a:")
        for i = 1, #lowered do names[i] = tables:get("a:" .. lowered[i]) end
        sort(names)
    end
    local top = tonumber(args["$top"]) or 1000
    if top > 1000 then top = 1000 end
    local from = args.NextTableName
    local out, next_name = {}, nil
    for i = 1, #names do
        local n = names[i]
        if not from or n >= from then
            if #out >= top then
                next_name = n
                break
            end
            out[#out + 1] = table_row(fmt, base, n)
        end
    end
    if next_name then header["x-ms-continuation-NextTableName"] = next_name end
    local meta = fmt == NONE and "" or ('"odata.metadata":"' .. base .. '$metadata#Tables",')
    respond(200, "{" .. meta .. '"value":[' .. concat(out, ",") .. "]}", fmt)
end

-- ---------------------------------------------------------------------------
-- Entities

-- The write lock held by the running request, released by handle() if the
-- request fails while holding it.
local held

local function lock(id)
    held = common.lock(id)
end

local function unlock()
    common.unlock(held)
    held = nil
end

local function entity_id(ltable, pk, rk)
    return "e|" .. ltable .. "|" .. pk .. "\0" .. rk
end

local function require_table(ltable)
    if not tables:get("a:" .. ltable) then table_not_found() end
end

-- Point read: the entity with its ETag.
local function get_entity(fmt, base, tname, path, id, ltable)
    local v = items:get(id)
    if not v then
        require_table(ltable)
        not_found()
    end
    local args = var.args
    local select = args and find(args, "$select=", 1, true) and selection(query_args()["$select"])
    header["ETag"] = stored_etag(v)
    respond(200, entity_body(fmt, base, tname, path, v, select), fmt)
end

-- Checks If-Match against the stored entity `v` (nil: none): 404 when there
-- is none to match, 412 when its ETag moved.
local function check_if_match(if_match, v, ltable)
    if not v then
        require_table(ltable)
        not_found()
    end
    if if_match ~= "*" and if_match ~= stored_etag(v) then
        fail(412, "UpdateConditionNotSatisfied", "The update condition specified in the request was not satisfied.")
    end
end

-- Update (If-Match) or insert-or-replace / insert-or-merge (no If-Match).
local function write_entity(id, ltable, pk, rk, merge)
    local body = read_json_body()
    if not body then
        fail(400, "PropertiesNeedValue", "The values are not specified for all properties in the entity.")
    end
    local props, types = properties_of(body)
    require_table(ltable)
    local if_match = var.http_if_match
    lock(id)
    local v = items:get(id)
    if if_match then check_if_match(if_match, v, ltable) end
    if merge and v then
        local old_props, old_types = decode_members(stored_members(v))
        for k, value in pairs(props) do
            old_props[k], old_types[k] = value, types[k]
        end
        props, types = old_props, old_types
    end
    local ts = common.unique_timestamp()
    local etag = etag_of(ts)
    store(id, etag .. ts .. members(pk, rk, props, types))
    unlock()
    header["ETag"] = etag
    respond(204)
end

local function delete_entity(id, ltable)
    local if_match = var.http_if_match
    if not if_match then
        fail(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
    end
    lock(id)
    local v = items:get(id)
    check_if_match(if_match, v, ltable)
    items:delete(id)
    unlock()
    respond(204)
end

-- Insert Entity: POST to the table, the keys in the body.
local function insert_entity(fmt, base, tname, ltable)
    local body = read_json_body()
    local pk, rk = body and body.PartitionKey, body and body.RowKey
    if type(pk) ~= "string" or type(rk) ~= "string" then
        fail(400, "PropertiesNeedValue", "The values are not specified for all properties in the entity.")
    end
    local props, types = properties_of(body)
    require_table(ltable)
    local id = entity_id(ltable, pk, rk)
    lock(id)
    if items:get(id) then fail(409, "EntityAlreadyExists", "The specified entity already exists.") end
    local ts = common.unique_timestamp()
    local etag = etag_of(ts)
    local v = etag .. ts .. members(pk, rk, props, types)
    store(id, v)
    unlock()
    header["ETag"] = etag
    local status = preference(201)
    if status == 204 then return respond(204) end
    respond(201, entity_body(fmt, base, tname, entity_path(tname, pk, rk), v), fmt)
end

-- Query Entities: every entity of the table, or those a filter of the form
-- "PartitionKey eq '<pk>' [and RowKey eq '<rk>']" picks, sorted by keys, in
-- pages of $top (continued with NextPartitionKey / NextRowKey). Scans the
-- whole store: meant for checks, not for benchmarks.
local function query_entities(fmt, base, tname, ltable)
    require_table(ltable)
    local args = query_args()
    local want_pk, want_rk
    local filter = args["$filter"]
    if filter then
        if type(filter) ~= "string" then invalid_input() end
        local f = gsub(gsub(filter, "^%s+", ""), "%s+$", "")
        want_pk, want_rk = f:match("^PartitionKey%s+eq%s+'(.-)'%s+and%s+RowKey%s+eq%s+'(.-)'$")
        if not want_pk then want_pk = f:match("^PartitionKey%s+eq%s+'(.-)'$") end
        if not want_pk then want_rk = f:match("^RowKey%s+eq%s+'(.-)'$") end
        if not want_pk and not want_rk then not_implemented("This $filter") end
        want_pk = want_pk and gsub(want_pk, "''", "'")
        want_rk = want_rk and gsub(want_rk, "''", "'")
    end
    local select = selection(args["$select"])
    local from_pk = args.NextPartitionKey and ngx.decode_base64(args.NextPartitionKey)
    local from_rk = args.NextRowKey and ngx.decode_base64(args.NextRowKey) or ""
    local keys = common.names_with_prefix(items, "e|" .. ltable .. "|")
    local top = tonumber(args["$top"]) or 1000
    if top > 1000 then top = 1000 end
    local out, next_pk, next_rk = {}, nil, nil
    for i = 1, #keys do
        local k = keys[i]
        local nul = find(k, "\0", 1, true)
        local pk, rk = sub(k, 1, nul - 1), sub(k, nul + 1)
        if (not want_pk or pk == want_pk) and (not want_rk or rk == want_rk) and
            (not from_pk or pk > from_pk or (pk == from_pk and rk >= from_rk)) then
            local v = items:get("e|" .. ltable .. "|" .. k)
            if v then
                if #out >= top then
                    next_pk, next_rk = pk, rk
                    break
                end
                local path = fmt == FULL and entity_path(tname, pk, rk)
                out[#out + 1] = entity_json(fmt, nil, base, tname, path, v, select)
            end
        end
    end
    if next_pk then
        header["x-ms-continuation-NextPartitionKey"] = ngx.encode_base64(next_pk)
        header["x-ms-continuation-NextRowKey"] = ngx.encode_base64(next_rk)
    end
    local meta = fmt == NONE and "" or ('"odata.metadata":"' .. base .. "$metadata#" .. tname .. '",')
    respond(200, "{" .. meta .. '"value":[' .. concat(out, ",") .. "]}", fmt)
end

-- ---------------------------------------------------------------------------
-- The request handler

local function route(fmt)
    local uri = var.request_uri
    local q = find(uri, "?", 1, true)
    local path = q and sub(uri, 1, q - 1) or uri
    local slash = find(path, "/", 2, true)
    if not slash then fail(400, "InvalidUri", "The requested URI does not represent any resource on the server.") end
    local base = "http://" .. (var.http_host or "127.0.0.1") .. sub(path, 1, slash)
    local resource = sub(path, slash + 1)
    local method = get_method()
    if method == "POST" then
        local tunnelled = var.http_x_http_method
        if tunnelled then method = upper(tunnelled) end
    end

    local paren = find(resource, "(", 1, true)
    local tname = paren and sub(resource, 1, paren - 1) or resource
    local keys = paren and sub(resource, paren)

    if lower(tname) == "tables" then
        if not keys or keys == "()" then
            if method == "POST" then return create_table(fmt, base) end
            if method == "GET" then return query_tables(fmt, base) end
        else
            local name = literal(unescape_path(keys), 2)
            if not name then invalid_input() end
            if method == "DELETE" then return delete_table(name) end
            if method == "GET" then return get_table(fmt, base, name) end
        end
        fail(405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
    end
    if tname == "$batch" then not_implemented("Entity group transactions ($batch)") end
    if tname == "" or find(tname, "/", 1, true) then
        fail(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    end

    local ltable = lower(tname)
    if not keys or keys == "()" then
        if method == "POST" then return insert_entity(fmt, base, tname, ltable) end
        if method == "GET" then return query_entities(fmt, base, tname, ltable) end
        fail(405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
    end

    local pk, rk = entity_keys(unescape_path(keys))
    if not pk then invalid_input("The entity key in the URI is not valid.") end
    local id = entity_id(ltable, pk, rk)
    if method == "GET" then return get_entity(fmt, base, tname, resource, id, ltable) end
    if method == "PUT" then return write_entity(id, ltable, pk, rk, false) end
    if method == "MERGE" or method == "PATCH" then return write_entity(id, ltable, pk, rk, true) end
    if method == "DELETE" then return delete_entity(id, ltable) end
    fail(405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
end

function M.handle()
    local fmt = format_of(var.http_accept)
    local args = var.args
    if args and find(args, "$format=", 1, true) then
        local f = query_args()["$format"]
        if type(f) == "string" then fmt = format_of(f) end
    end
    local ok, err = pcall(route, fmt)
    if ok then return end
    if held then unlock() end
    if type(err) == "table" then
        return respond_error(err.status, err.code, err.message, fmt)
    end
    ngx.log(ngx.ERR, "Azure ", get_method(), " ", var.request_uri, ": ", tostring(err))
    respond_error(500, "InternalError", "The server encountered an internal error (sds benchmark stub): " ..
        tostring(err), fmt)
end

return M
