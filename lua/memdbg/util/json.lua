-- JSON for the Lua layer: lua-cjson, or Neovim's vim.json (the same cjson).
local ok, cjson = pcall(require, "cjson")
local json = {}

if ok then
  local safe = require("cjson.safe")
  json.encode = cjson.encode
  json.decode = safe.decode -- nil, err on malformed input
  json.null = cjson.null
  json.object = function() return {} end -- cjson writes an empty table as {}
  -- cjson encodes an empty Lua table as {} by default, which is what CDP wants.
  if cjson.encode_empty_table_as_object then cjson.encode_empty_table_as_object(true) end
  if safe.decode_max_depth then safe.decode_max_depth(200) end
elseif vim and vim.json then
  json.encode = vim.json.encode
  json.decode = function(s)
    local okd, v = pcall(vim.json.decode, s)
    if okd then return v end
    return nil, v
  end
  json.null = vim.NIL
  json.object = vim.empty_dict -- vim.json writes a plain empty table as []
else
  error("memdbg needs lua-cjson (Debian: apt-get install lua-cjson)")
end

return json
