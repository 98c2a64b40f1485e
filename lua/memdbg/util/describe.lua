-- describe(v) -> one line of text for a value that stands for an error or a
-- thrown value: a string as it is, a table by its message or as JSON, JSON
-- null as "null"; never "table: 0x55…" or "userdata: (nil)".
--   local describe = require "memdbg.util.describe"
--   io.stderr:write(describe(err), "\n")
local json = require("memdbg.util.json")

return function(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if v == json.null then return "null" end
  local mt = getmetatable(v)
  if type(mt) == "table" and mt.__tostring then return tostring(v) end
  if t == "table" then
    if type(v.message) == "string" then return v.message end
    local ok, text = pcall(json.encode, v)
    if ok and type(text) == "string" then return text end
  end
  return "(a " .. t .. " value)"
end
