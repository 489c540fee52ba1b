-- DynamoDB expressions for the stub server: condition expressions (also used
-- for FilterExpression-free ConditionExpression checks), update expressions
-- and projection expressions, parsed once per distinct text and cached.
--
-- Supported, on the item's attributes (nested paths a.b[1] for reading):
--   conditions  =  <>  <  <=  >  >=  BETWEEN  IN  AND  OR  NOT  ( ),
--               attribute_exists  attribute_not_exists  attribute_type
--               begins_with  contains  size
--   updates     SET a = v | a + v | a - v | if_not_exists(a, v) | list_append(x, y),
--               REMOVE a, ADD a n|set, DELETE a set (top-level attributes only)
--   projections a, #n, a.b (a nested path projects its top-level attribute)
-- Attribute values are the decoded DynamoDB JSON ({"N": "1"}, {"S": "x"}, ...).
-- Reserved words are not enforced.

local common = require("sdsstub.common")

local byte, find, sub, upper, lower = string.byte, string.find, string.sub, string.upper, string.lower
local tostring, tonumber, type, pairs, next, error = tostring, tonumber, type, pairs, next, error
local number_add, number_compare, number_negate = common.number_add, common.number_compare, common.number_negate

local M = {}

local function invalid(message)
    error({ type = "ValidationException", message = message }, 0)
end
M.invalid = invalid

-- ---------------------------------------------------------------------------
-- Tokenizer: a list of {kind, text}; kinds: name (#x), value (:x), ident,
-- number, op (punctuation and comparators), eof.

local two_char_ops = { ["<>"] = true, ["<="] = true, [">="] = true }

local function tokenize(s)
    local toks, i, n = {}, 1, #s
    while i <= n do
        local c = byte(s, i)
        if c == 32 or c == 9 or c == 10 or c == 13 then
            i = i + 1
        else
            local _, e, kind
            if c == 35 or c == 58 then  -- # :
                _, e = find(s, "^[#:][%w_]+", i)
                kind = c == 35 and "name" or "value"
            elseif (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c == 95 then
                _, e = find(s, "^[%a_][%w_]*", i)
                kind = "ident"
            elseif c >= 48 and c <= 57 then
                _, e = find(s, "^%d+", i)
                kind = "number"
            elseif two_char_ops[sub(s, i, i + 1)] then
                e, kind = i + 1, "op"
            elseif find("=<>(),+-.[]", string.char(c), 1, true) then
                e, kind = i, "op"
            end
            if not e then invalid("Invalid expression: unexpected character at position " .. i .. " of: " .. s) end
            toks[#toks + 1] = { kind, sub(s, i, e) }
            i = e + 1
        end
    end
    toks[#toks + 1] = { "eof", "" }
    return toks
end

-- ---------------------------------------------------------------------------
-- Parser state: a token list and a position.

local Parser = {}
Parser.__index = Parser

local function parser(text)
    return setmetatable({ toks = tokenize(text), pos = 1, text = text }, Parser)
end

function Parser:peek(k) return self.toks[self.pos + (k or 0)] end

function Parser:next()
    local t = self.toks[self.pos]
    self.pos = self.pos + 1
    return t
end

function Parser:fail(what)
    local t = self:peek()
    invalid("Invalid expression: " .. what .. " near '" .. t[2] .. "' in: " .. self.text)
end

function Parser:accept_op(op)
    local t = self:peek()
    if t[1] == "op" and t[2] == op then
        self.pos = self.pos + 1
        return true
    end
    return false
end

function Parser:expect_op(op)
    if not self:accept_op(op) then self:fail("expected '" .. op .. "'") end
end

function Parser:is_keyword(word)
    local t = self:peek()
    return t[1] == "ident" and upper(t[2]) == word
end

-- path := (name | ident) ( '.' (name | ident) | '[' number ']' )*
-- A node {k = "path", first = "#d" or "data", rest = nil or {...}}.
function Parser:path()
    local t = self:next()
    if t[1] ~= "name" and t[1] ~= "ident" then
        self.pos = self.pos - 1
        self:fail("expected an attribute name")
    end
    local node = { k = "path", first = t[2] }
    while true do
        if self:accept_op(".") then
            local p = self:next()
            if p[1] ~= "name" and p[1] ~= "ident" then self:fail("expected an attribute name after '.'") end
            node.rest = node.rest or {}
            node.rest[#node.rest + 1] = p[2]
        elseif self:accept_op("[") then
            local p = self:next()
            if p[1] ~= "number" then self:fail("expected a list index") end
            self:expect_op("]")
            node.rest = node.rest or {}
            node.rest[#node.rest + 1] = tonumber(p[2])
        else
            return node
        end
    end
end

-- operand := value | size(path) | path
function Parser:operand()
    local t = self:peek()
    if t[1] == "value" then
        self.pos = self.pos + 1
        return { k = "value", name = t[2] }
    end
    if t[1] == "ident" and lower(t[2]) == "size" and self:peek(1)[2] == "(" then
        self.pos = self.pos + 2
        local p = self:path()
        self:expect_op(")")
        return { k = "size", path = p }
    end
    return self:path()
end

local comparators = { ["="] = true, ["<>"] = true, ["<"] = true, ["<="] = true, [">"] = true, [">="] = true }
local condition_functions = {
    attribute_exists = 1, attribute_not_exists = 1, attribute_type = 2, begins_with = 2, contains = 2,
}

function Parser:primary()
    if self:accept_op("(") then
        local c = self:disjunction()
        self:expect_op(")")
        return c
    end
    local t = self:peek()
    if t[1] == "ident" and self:peek(1)[2] == "(" then
        local name = lower(t[2])
        local arity = condition_functions[name]
        if arity then
            self.pos = self.pos + 2
            local args = { self:path() }
            if arity == 2 then
                self:expect_op(",")
                args[2] = self:operand()
            end
            self:expect_op(")")
            return { k = "fn", name = name, args = args }
        end
    end
    local a = self:operand()
    local op = self:peek()
    if op[1] == "op" and comparators[op[2]] then
        self.pos = self.pos + 1
        return { k = "cmp", op = op[2], a = a, b = self:operand() }
    end
    if self:is_keyword("BETWEEN") then
        self.pos = self.pos + 1
        local lo = self:operand()
        if not self:is_keyword("AND") then self:fail("expected AND in BETWEEN") end
        self.pos = self.pos + 1
        return { k = "between", a = a, lo = lo, hi = self:operand() }
    end
    if self:is_keyword("IN") then
        self.pos = self.pos + 1
        self:expect_op("(")
        local list = { self:operand() }
        while self:accept_op(",") do list[#list + 1] = self:operand() end
        self:expect_op(")")
        return { k = "in", a = a, list = list }
    end
    self:fail("expected a comparison")
end

function Parser:negation()
    if self:is_keyword("NOT") then
        self.pos = self.pos + 1
        return { k = "not", a = self:negation() }
    end
    return self:primary()
end

function Parser:conjunction()
    local a = self:negation()
    while self:is_keyword("AND") do
        self.pos = self.pos + 1
        a = { k = "and", a = a, b = self:negation() }
    end
    return a
end

function Parser:disjunction()
    local a = self:conjunction()
    while self:is_keyword("OR") do
        self.pos = self.pos + 1
        a = { k = "or", a = a, b = self:conjunction() }
    end
    return a
end

function Parser:finish()
    if self:peek()[1] ~= "eof" then self:fail("unexpected token") end
end

-- set operand := operand | if_not_exists(path, operand) | list_append(x, y)
function Parser:set_operand()
    local t = self:peek()
    if t[1] == "ident" and self:peek(1)[2] == "(" then
        local name = lower(t[2])
        if name == "if_not_exists" then
            self.pos = self.pos + 2
            local p = self:path()
            self:expect_op(",")
            local v = self:set_operand()
            self:expect_op(")")
            return { k = "if_not_exists", path = p, value = v }
        elseif name == "list_append" then
            self.pos = self.pos + 2
            local x = self:set_operand()
            self:expect_op(",")
            local y = self:set_operand()
            self:expect_op(")")
            return { k = "list_append", a = x, b = y }
        end
    end
    return self:operand()
end

local clause_words = { SET = true, REMOVE = true, ADD = true, DELETE = true }

function Parser:update()
    local actions = {}
    if self:peek()[1] == "eof" then self:fail("empty update expression") end
    while self:peek()[1] ~= "eof" do
        local t = self:next()
        local clause = t[1] == "ident" and upper(t[2])
        if not clause or not clause_words[clause] then
            self.pos = self.pos - 1
            self:fail("expected SET, REMOVE, ADD or DELETE")
        end
        repeat
            local target = self:path()
            if target.rest then invalid("the stub server updates top-level attributes only: " .. self.text) end
            local action = { k = clause, path = target }
            if clause == "SET" then
                self:expect_op("=")
                local a = self:set_operand()
                if self:accept_op("+") then
                    action.value = { k = "+", a = a, b = self:set_operand() }
                elseif self:accept_op("-") then
                    action.value = { k = "-", a = a, b = self:set_operand() }
                else
                    action.value = a
                end
            elseif clause == "ADD" or clause == "DELETE" then
                local v = self:peek()
                if v[1] ~= "value" then self:fail("expected a :value") end
                self.pos = self.pos + 1
                action.value = { k = "value", name = v[2] }
            end
            actions[#actions + 1] = action
        until not self:accept_op(",")
    end
    return actions
end

-- Parsed expressions by kind and text. Benchmarks send a handful of distinct
-- texts; the cache is dropped if a client sends unbounded variety.
local cache = { condition = {}, update = {}, projection = {} }
local cache_size, cache_limit = 0, 4096

local function cached(kind, text, parse)
    local c = cache[kind]
    local ast = c[text]
    if ast then return ast end
    if type(text) ~= "string" then invalid(kind .. " expression must be a string") end
    ast = parse(parser(text))
    cache_size = cache_size + 1
    if cache_size > cache_limit then
        cache = { condition = {}, update = {}, projection = {} }
        cache_size = 1
        c = cache[kind]
    end
    c[text] = ast
    return ast
end

function M.parse_condition(text)
    return cached("condition", text, function(p)
        local ast = p:disjunction()
        p:finish()
        return ast
    end)
end

function M.parse_update(text)
    return cached("update", text, function(p) return p:update() end)
end

-- A list of top-level attribute name tokens ("#n" or "name").
function M.parse_projection(text)
    return cached("projection", text, function(p)
        local list = { p:path().first }
        while p:accept_op(",") do list[#list + 1] = p:path().first end
        p:finish()
        return list
    end)
end

-- ---------------------------------------------------------------------------
-- Evaluation. `ctx` carries the request's ExpressionAttributeNames (names)
-- and ExpressionAttributeValues (values).

local function resolve_name(token, ctx)
    if byte(token, 1) ~= 35 then return token end
    local names = ctx.names
    local n = names and names[token]
    if type(n) ~= "string" then
        invalid("Value provided in ExpressionAttributeNames unused in expressions or undefined: " .. token)
    end
    return n
end
M.resolve_name = resolve_name

local function value_of(name, ctx)
    local values = ctx.values
    local v = values and values[name]
    if type(v) ~= "table" then
        invalid("An expression attribute value used in expression is not defined; attribute value: " .. name)
    end
    return v
end

local function type_of(av)
    return type(av) == "table" and next(av) or nil
end
M.type_of = type_of

-- The attribute value at `path` in `item` (nil when absent).
local function get_path(path, item, ctx)
    if not item then return nil end
    local av = item[resolve_name(path.first, ctx)]
    local rest = path.rest
    if rest then
        for i = 1, #rest do
            if type(av) ~= "table" then return nil end
            local step = rest[i]
            if type(step) == "number" then
                av = av.L and av.L[step + 1]
            else
                av = av.M and av.M[resolve_name(step, ctx)]
            end
        end
    end
    return av
end

local function size_of(av)
    local t = type_of(av)
    if t == "S" then return #av.S end
    if t == "B" then return #(ngx.decode_base64(av.B) or "") end
    if t == "SS" or t == "NS" or t == "BS" or t == "L" then return #av[t] end
    if t == "M" then
        local n = 0
        for _ in pairs(av.M) do n = n + 1 end
        return n
    end
    return nil
end

local function operand_value(node, item, ctx)
    local k = node.k
    if k == "path" then return get_path(node, item, ctx) end
    if k == "value" then return value_of(node.name, ctx) end
    if k == "size" then
        local n = size_of(get_path(node.path, item, ctx))
        return n and { N = tostring(n) } or nil
    end
    invalid("unsupported operand")
end

-- -1, 0, 1 for two scalars of the same ordered type (N, S, B); nil otherwise.
local function compare_scalars(a, b)
    if a.N and b.N then return number_compare(a.N, b.N) end
    if a.S and b.S then
        if a.S == b.S then return 0 end
        return a.S < b.S and -1 or 1
    end
    if a.B and b.B then
        local x, y = ngx.decode_base64(a.B) or a.B, ngx.decode_base64(b.B) or b.B
        if x == y then return 0 end
        return x < y and -1 or 1
    end
    return nil
end

local function deep_equal(a, b)
    if type(a) ~= type(b) then return false end
    if type(a) ~= "table" then return a == b end
    for k, v in pairs(a) do
        if not deep_equal(v, b[k]) then return false end
    end
    for k in pairs(b) do
        if a[k] == nil then return false end
    end
    return true
end

local function equal(a, b)
    if a == nil or b == nil then return false end
    local c = compare_scalars(a, b)
    if c ~= nil then return c == 0 end
    return deep_equal(a, b)
end
M.equal = equal

local function contains(av, needle)
    local t = type_of(av)
    if t == "S" and needle.S then return find(av.S, needle.S, 1, true) ~= nil end
    local list = (t == "SS" and needle.S) or (t == "NS" and needle.N) or (t == "BS" and needle.B)
    if list then
        for _, e in pairs(av[t]) do
            if e == list or (t == "NS" and number_compare(e, list) == 0) then return true end
        end
        return false
    end
    if t == "L" then
        for _, e in pairs(av.L) do
            if equal(e, needle) then return true end
        end
    end
    return false
end

local evaluate

local function evaluate_function(node, item, ctx)
    local name, args = node.name, node.args
    local av = get_path(args[1], item, ctx)
    if name == "attribute_exists" then return av ~= nil end
    if name == "attribute_not_exists" then return av == nil end
    local arg = operand_value(args[2], item, ctx)
    if name == "attribute_type" then return av ~= nil and arg and arg.S == type_of(av) end
    if av == nil or arg == nil then return false end
    if name == "begins_with" then
        if av.S and arg.S then return sub(av.S, 1, #arg.S) == arg.S end
        if av.B and arg.B then
            local x, y = ngx.decode_base64(av.B) or "", ngx.decode_base64(arg.B) or ""
            return sub(x, 1, #y) == y
        end
        return false
    end
    return contains(av, arg)  -- contains
end

evaluate = function(node, item, ctx)
    local k = node.k
    if k == "cmp" then
        local a, b = operand_value(node.a, item, ctx), operand_value(node.b, item, ctx)
        local op = node.op
        if op == "=" then return equal(a, b) end
        if op == "<>" then return a ~= nil and b ~= nil and not equal(a, b) end
        if a == nil or b == nil then return false end
        local c = compare_scalars(a, b)
        if c == nil then return false end
        if op == "<" then return c < 0 end
        if op == "<=" then return c <= 0 end
        if op == ">" then return c > 0 end
        return c >= 0
    end
    if k == "and" then return evaluate(node.a, item, ctx) and evaluate(node.b, item, ctx) end
    if k == "or" then return evaluate(node.a, item, ctx) or evaluate(node.b, item, ctx) end
    if k == "not" then return not evaluate(node.a, item, ctx) end
    if k == "fn" then return evaluate_function(node, item, ctx) end
    if k == "between" then
        local a = operand_value(node.a, item, ctx)
        local lo, hi = operand_value(node.lo, item, ctx), operand_value(node.hi, item, ctx)
        if not a or not lo or not hi then return false end
        local c1, c2 = compare_scalars(a, lo), compare_scalars(a, hi)
        return c1 ~= nil and c2 ~= nil and c1 >= 0 and c2 <= 0
    end
    if k == "in" then
        local a = operand_value(node.a, item, ctx)
        for i = 1, #node.list do
            if equal(a, operand_value(node.list[i], item, ctx)) then return true end
        end
        return false
    end
    invalid("unsupported condition")
end

-- Whether `item` (nil: no item) satisfies the parsed condition.
function M.check(ast, item, ctx)
    return evaluate(ast, item, ctx) and true or false
end

-- ---------------------------------------------------------------------------
-- Updates

local function set_value(node, item, ctx)
    local k = node.k
    if k == "+" or k == "-" then
        local a, b = set_value(node.a, item, ctx), set_value(node.b, item, ctx)
        if not (a and a.N and b and b.N) then
            invalid("An operand in the update expression has an incorrect data type")
        end
        local r = number_add(a.N, k == "+" and b.N or number_negate(b.N))
        if not r then invalid("invalid number") end
        return { N = r }
    end
    if k == "if_not_exists" then
        local av = get_path(node.path, item, ctx)
        if av ~= nil then return av end
        return set_value(node.value, item, ctx)
    end
    if k == "list_append" then
        local a, b = set_value(node.a, item, ctx), set_value(node.b, item, ctx)
        if not (a and a.L and b and b.L) then
            invalid("An operand in the update expression has an incorrect data type")
        end
        local out = {}
        for i = 1, #a.L do out[#out + 1] = a.L[i] end
        for i = 1, #b.L do out[#out + 1] = b.L[i] end
        return { L = out }
    end
    local v = operand_value(node, item, ctx)
    if v == nil then
        invalid("The provided expression refers to an attribute that does not exist in the item")
    end
    return v
end

local set_types = { SS = true, NS = true, BS = true }

local function set_union(old, add, t)
    local seen, out = {}, {}
    for _, e in ipairs(old[t]) do
        if not seen[e] then seen[e] = true; out[#out + 1] = e end
    end
    for _, e in ipairs(add[t]) do
        if not seen[e] then seen[e] = true; out[#out + 1] = e end
    end
    return { [t] = out }
end

local function set_difference(old, remove, t)
    local drop, out = {}, {}
    for _, e in ipairs(remove[t]) do drop[e] = true end
    for _, e in ipairs(old[t]) do
        if not drop[e] then out[#out + 1] = e end
    end
    if #out == 0 then return nil end  -- an empty set is removed
    return { [t] = out }
end

-- Applies the parsed update to `item` (a table, modified in place) and
-- returns the names of the attributes it wrote (set or removed) in order.
-- Every operand refers to the item as it was before the update.
function M.apply_update(actions, item, ctx)
    local writes = {}
    for i = 1, #actions do
        local a = actions[i]
        local name = resolve_name(a.path.first, ctx)
        local old = item[name]
        local new
        if a.k == "SET" then
            new = set_value(a.value, item, ctx)
        elseif a.k == "REMOVE" then
            new = nil
        else
            local v = value_of(a.value.name, ctx)
            local t = type_of(v)
            if a.k == "ADD" then
                if t == "N" then
                    if old ~= nil and not old.N then
                        invalid("An operand in the update expression has an incorrect data type")
                    end
                    local r = number_add(old and old.N or "0", v.N)
                    if not r then invalid("invalid number") end
                    new = { N = r }
                elseif set_types[t] then
                    if old ~= nil and not old[t] then
                        invalid("An operand in the update expression has an incorrect data type")
                    end
                    new = old and set_union(old, v, t) or v
                else
                    invalid("Incorrect operand type for operator or function; operator: ADD, operand type: " ..
                        tostring(t))
                end
            else  -- DELETE
                if not set_types[t] then
                    invalid("Incorrect operand type for operator or function; operator: DELETE, operand type: " ..
                        tostring(t))
                end
                if old ~= nil and not old[t] then
                    invalid("An operand in the update expression has an incorrect data type")
                end
                new = old and set_difference(old, v, t) or nil
            end
        end
        writes[i] = { name, new }
    end
    local names = {}
    for i = 1, #writes do
        local w = writes[i]
        item[w[1]] = w[2]
        names[i] = w[1]
    end
    return names
end

return M
