-- Sampling heap profiles (CDP's SamplingHeapProfile: {head, samples}). The
-- allocation sites of a tracking snapshot are the heap engine's
-- (heap.trackingSites).
--   profile.save_heapprofile(p, "x.heapprofile")  -- loads in DevTools' Memory panel
--   profile.save_folded(p, "x.folded")            -- flamegraph.pl / speedscope
--   profile.format_sites(profile.top_sites(p, 20)) -- a text table
local json = require("memdbg.util.json")

local profile = {}

local function num(v, default)
  if type(v) == "number" then return v end
  return default
end

local function str(v)
  if type(v) == "string" then return v end
  return ""
end

-- (anonymous) for empty names, like DevTools.
local function fname(cf)
  local n = str(cf and cf.functionName)
  if n == "" then n = "(anonymous)" end
  return n
end

-- DevTools shows 1-based lines and columns; CDP call frames carry 0-based ones.
local function site_of(cf)
  cf = cf or {}
  local line, col = num(cf.lineNumber, -1), num(cf.columnNumber, -1)
  return fname(cf), str(cf.url), line >= 0 and math.floor(line + 1) or nil, col >= 0 and math.floor(col + 1) or nil
end

local function children(node)
  local c = node.children
  if type(c) ~= "table" then return {} end
  return c
end

----------------------------------------------------------------- .heapprofile

local function encode_node(node, out)
  local cf = type(node.callFrame) == "table" and node.callFrame or {}
  out[#out + 1] = string.format('{"callFrame":{"functionName":%s,"scriptId":%s,"url":%s,"lineNumber":%d,'
    .. '"columnNumber":%d},"selfSize":%.0f,"id":%.0f,"children":[',
    json.encode(str(cf.functionName)), json.encode(tostring(cf.scriptId or "0")), json.encode(str(cf.url)),
    num(cf.lineNumber, -1), num(cf.columnNumber, -1), num(node.selfSize, 0), num(node.id, 0))
  local kids = children(node)
  for i, k in ipairs(kids) do
    if i > 1 then out[#out + 1] = "," end
    encode_node(k, out)
  end
  out[#out + 1] = "]}"
end

--- The profile as the JSON text of a .heapprofile file.
function profile.to_heapprofile(p)
  if type(p) ~= "table" or type(p.head) ~= "table" then error("to_heapprofile: not a profile {head=, samples=}", 2) end
  local out = { '{"head":' }
  encode_node(p.head, out)
  out[#out + 1] = ',"samples":['
  for i, s in ipairs(type(p.samples) == "table" and p.samples or {}) do
    out[#out + 1] = string.format('%s{"size":%.0f,"nodeId":%.0f,"ordinal":%.0f}', i > 1 and "," or "",
      num(s.size, 0), num(s.nodeId, 0), num(s.ordinal, i))
  end
  out[#out + 1] = "]}"
  return table.concat(out)
end

-- A new 0600 file, in place when complete, never through a link (docs/files.md).
local function write_file(path, text, opts)
  local ok, err, code = require("memdbg.util.files").write(path, text, opts)
  if not ok then return nil, err, code end
  return path
end

--- save_heapprofile(p, path[, {noClobber=, force=}]) -> path | nil, message, code
function profile.save_heapprofile(p, path, opts)
  return write_file(path, profile.to_heapprofile(p), opts)
end

--- Reads a .heapprofile back (nil, msg, code on failure).
function profile.load(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err, "EIO" end
  local text = f:read("*a")
  f:close()
  local p, jerr = json.decode(text)
  if type(p) ~= "table" or type(p.head) ~= "table" then
    return nil, path .. " is not a heap profile: " .. tostring(jerr or "no head"), "EPROTO"
  end
  return p
end

--------------------------------------------------------------- folded stacks

local function frame_label(cf)
  local name, url, line = site_of(cf)
  local label = name
  if url ~= "" then label = string.format("%s %s:%s", name, url:match("[^/]*$"), line and string.format("%d", line) or "?") end
  return (label:gsub("[;\n]", "_"))
end

--- One "root;...;leaf bytes" line per stack with self bytes (the synthetic
--- (root) frame left out), sorted for stable output.
function profile.to_folded(p)
  local acc, order = {}, {}
  local stack = {}
  local function walk(node, depth)
    if depth > 0 then stack[depth] = frame_label(node.callFrame) end
    local self = num(node.selfSize, 0)
    if self > 0 and depth > 0 then
      local key = table.concat(stack, ";", 1, depth)
      if not acc[key] then order[#order + 1] = key acc[key] = 0 end
      acc[key] = acc[key] + self
    end
    for _, k in ipairs(children(node)) do walk(k, depth + 1) end
  end
  walk(p.head, 0)
  table.sort(order)
  local out = {}
  for _, k in ipairs(order) do out[#out + 1] = string.format("%s %.0f\n", k, acc[k]) end
  return table.concat(out)
end

--- save_folded(p, path[, {noClobber=, force=}]) -> path | nil, message, code
function profile.save_folded(p, path, opts)
  return write_file(path, profile.to_folded(p), opts)
end

----------------------------------------------------------- allocation sites

--- Top allocation sites: {functionName, url, line, column, self, total} (line
--- and column 1-based) sorted by self bytes; total counts a site's subtree
--- once even when it recurses.
function profile.top_sites(p, n)
  local sites, list = {}, {}
  local active = {}
  local function walk(node)
    local name, url, line, column = site_of(node.callFrame)
    local key = name .. "\0" .. url .. "\0" .. tostring(line) .. "\0" .. tostring(column)
    local s = sites[key]
    if not s then
      s = { functionName = name, url = url, line = line, column = column, self = 0, total = 0 }
      sites[key] = s
      list[#list + 1] = s
    end
    local subtotal = num(node.selfSize, 0)
    s.self = s.self + subtotal
    local outer = not active[key]
    active[key] = true
    for _, k in ipairs(children(node)) do subtotal = subtotal + walk(k) end
    if outer then
      active[key] = nil
      s.total = s.total + subtotal
    end
    return subtotal
  end
  walk(p.head)
  local out = {}
  for _, s in ipairs(list) do
    if s.self > 0 and s.functionName ~= "(root)" then out[#out + 1] = s end
  end
  table.sort(out, function(a, b)
    if a.self ~= b.self then return a.self > b.self end
    return a.total > b.total
  end)
  if n and #out > n then for i = #out, n + 1, -1 do out[i] = nil end end
  return out
end

local format = require("memdbg.util.format")
local bytes = format.bytes

--- A text table of sites (from top_sites or heap.trackingSites).
function profile.format_sites(rows)
  local out = { string.format("%10s %10s  %-32s %s\n", "SELF", "TOTAL", "FUNCTION", "URL:LINE:COLUMN") }
  for _, r in ipairs(rows) do
    local where = r.url ~= "" and format.where(r) or "(native)"
    local extra = r.count and string.format("  (%d allocations)", r.count) or ""
    out[#out + 1] = string.format("%10s %10s  %-32s %s%s\n", bytes(r.self), bytes(r.total), r.functionName, where, extra)
  end
  return table.concat(out)
end

return profile
