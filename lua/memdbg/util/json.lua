-- JSON for every part of memdbg: protocol messages, --json reports, files.
-- One encoder and one decoder, on lua-cjson (or Neovim's vim.json, the same
-- cjson).
--
--   json.decode(text)      -> value | nil, message   (never raises)
--   json.encode(value)     -> text
--   json.array(t)          -> t marked to encode as an array ([] when empty)
--   json.object(t)         -> t marked to encode as an object ({} when empty)
--   json.null              -> the decoder's null (encodes as null)
--   json.backend           -> "cjson" or "vim.json" (Neovim without lua-cjson on its paths)
--
-- Tables encode as lua-cjson does: a table whose keys are 1..n is an array,
-- any other table (the empty one too) an object; a marked table is what its
-- mark says, so a list that may be empty must be marked. Objects' keys come
-- out sorted (stable output). Numbers with an integer value encode exactly
-- (no 14-digit rounding of 2^53-scale sizes); other numbers with the fewest
-- digits that read back the same; NaN and infinities as null. Strings go
-- through cjson's escaping.
local ok, cjson = pcall(require, "cjson")
local json = {}

local escape -- string -> JSON string literal
if ok then
  local safe = require("cjson.safe")
  if safe.decode_max_depth then safe.decode_max_depth(200) end
  json.decode = safe.decode -- nil, err on malformed input
  json.null = cjson.null
  json.backend = "cjson"
  escape = cjson.encode
elseif vim and vim.json then
  json.decode = function(s)
    local okd, v = pcall(vim.json.decode, s)
    if okd then return v end
    return nil, v
  end
  json.null = vim.NIL
  json.backend = "vim.json"
  escape = vim.json.encode
else
  error("memdbg needs lua-cjson (Debian: apt-get install lua-cjson)")
end

-- cjson's own array metatable where it has one (OpenResty's), so a table
-- marked here is an array to it too.
local ARRAY = (ok and cjson.array_mt) or { __jsontype = "array" }
local OBJECT = { __jsontype = "object" }
json.array_mt, json.object_mt = ARRAY, OBJECT

function json.array(t) return setmetatable(t or {}, ARRAY) end
function json.object(t) return setmetatable(t or {}, OBJECT) end

local function is_array(t)
  local mt = getmetatable(t)
  if mt == ARRAY then return true end
  if mt == OBJECT then return false end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local floor, huge, fmt = math.floor, math.huge, string.format
local mtype = math.type

local function number(v)
  if v ~= v or v == huge or v == -huge then return "null" end
  if (mtype and mtype(v) == "integer") then return fmt("%d", v) end
  if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then return fmt("%.0f", v) end
  for digits = 14, 16 do
    local s = fmt("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
  return fmt("%.17g", v)
end

local encode
local function encode_table(v, out, depth)
  if depth > 200 then error("json.encode: nested too deeply (a cycle?)", 0) end
  if is_array(v) then
    out[#out + 1] = "["
    for i = 1, #v do
      if i > 1 then out[#out + 1] = "," end
      encode(v[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = escape(k)
    out[#out + 1] = ":"
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    encode(val, out, depth + 1)
  end
  out[#out + 1] = "}"
end

function encode(v, out, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = escape(v)
  elseif t == "number" then
    out[#out + 1] = number(v)
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "table" then
    encode_table(v, out, depth)
  elseif v == nil or v == json.null then
    out[#out + 1] = "null"
  else
    error("json.encode: cannot encode a " .. t, 0)
  end
end

function json.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

return json
