--- Output helpers shared by the memdbg subcommands.
--
--   local out = require "memdbg.cli.output"
--
--   out.bytes(n)                 -> "0 B", "512 B", "1.5 KB", "12.3 MB", "2.00 GB" (1024-based; negative
--                                   values keep their sign: "-1.5 KB")
--   out.signed(n)                -> "+3", "-2", "0"  (counts in diffs)
--   out.table(columns, rows)     -> the rows as an aligned text table (a string ending in "\n").
--       columns: array of { title = "Name", key = "name" | get = function(row) -> value,
--                           align = "left" | "right" (default: right for numbers),
--                           format = function(value, row) -> string, max = width to cut at }
--   out.json(value[, file])      -> writes value as one JSON document plus "\n" to file (io.stdout).
--   out.encode(value)            -> the JSON text. Arrays are tables whose keys are 1..n; an empty
--                                   table encodes as [] unless marked with out.object({}); integers stay
--                                   exact (no %.14g rounding); strings go through lua-cjson's escaping.
--   out.object(t) / out.array(t) -> mark t to encode as an object / array (returns t)
--   out.isatty(fd)               -> whether fd (default 2, stderr) is a terminal; MEMDBG_PROGRESS=0|1
--                                   in the environment forces the answer for the progress bar
--   out.progress(label[, file])  -> a progress bar on stderr when it is a terminal, else a no-op:
--                                   bar:update(done, total)  (bytes; redraws at most ~10 times a second)
--                                   bar:finish()             (clears the line)
--                                   bar.callback             (function(done, total), for onProgress=)
--   out.die(code, fmt, ...)      -> writes "memdbg: message" to stderr and returns code (for run()).
local cjson = require "cjson"

local out = {}

local object_mt, array_mt = { __jsontype = "object" }, { __jsontype = "array" }

function out.object(t) return setmetatable(t or {}, object_mt) end
function out.array(t) return setmetatable(t or {}, array_mt) end

local units = { "B", "KB", "MB", "GB", "TB" }

function out.bytes(n)
  if n == nil then return "-" end
  local sign = n < 0 and "-" or ""
  local v = math.abs(n)
  local i = 1
  while v >= 1024 and i < #units do
    v = v / 1024
    i = i + 1
  end
  if i == 1 then return string.format("%s%d B", sign, math.floor(v)) end
  local fmt = v >= 100 and "%s%.0f %s" or v >= 10 and "%s%.1f %s" or "%s%.2f %s"
  return string.format(fmt, sign, v, units[i])
end

function out.signed(n)
  if n == nil then return "-" end
  if n > 0 then return "+" .. string.format("%d", n) end
  return string.format("%d", n)
end

-- UTF-8 aware display width (one column per code point, good enough for names).
local function width(s)
  local _, count = s:gsub("[^\128-\191]", "")
  return count
end

local function cut(s, max)
  if not max or width(s) <= max then return s end
  local res, w = {}, 0
  for ch in s:gmatch("[%z\1-\127\194-\244][\128-\191]*") do
    if w >= max - 1 then break end
    res[#res + 1] = ch
    w = w + 1
  end
  return table.concat(res) .. "…"
end

function out.table(columns, rows)
  local cells, widths = {}, {}
  for c, col in ipairs(columns) do widths[c] = width(col.title) end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, col in ipairs(columns) do
      local v
      if col.get then v = col.get(row) else v = row[col.key] end
      local s
      if col.format then s = col.format(v, row)
      elseif math.type and math.type(v) == "integer" then s = string.format("%d", v)
      else s = tostring(v == nil and "" or v) end
      s = cut(s, col.max)
      cells[r][c] = s
      if width(s) > widths[c] then widths[c] = width(s) end
    end
  end
  local function line(values)
    local parts = {}
    for c, col in ipairs(columns) do
      local s = values[c]
      local pad = string.rep(" ", widths[c] - width(s))
      local left = col.align == "left" or (col.align == nil and c == 1)
      parts[c] = left and (s .. pad) or (pad .. s)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local titles = {}
  for c, col in ipairs(columns) do titles[c] = col.title end
  local buf = { line(titles) }
  for r = 1, #rows do buf[#buf + 1] = line(cells[r]) end
  return table.concat(buf, "\n") .. "\n"
end

local function is_array(t)
  local mt = getmetatable(t)
  if mt == array_mt then return true end
  if mt == object_mt then return false end
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, buf, depth)
  if depth > 100 then error("out.encode: nested too deeply") end
  local tv = type(v)
  if tv == "table" then
    if is_array(v) then
      buf[#buf + 1] = "["
      for i = 1, #v do
        if i > 1 then buf[#buf + 1] = "," end
        encode(v[i], buf, depth + 1)
      end
      buf[#buf + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      buf[#buf + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then buf[#buf + 1] = "," end
        buf[#buf + 1] = cjson.encode(k)
        buf[#buf + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, buf, depth + 1)
      end
      buf[#buf + 1] = "}"
    end
  elseif tv == "number" then
    if math.type and math.type(v) == "integer" then buf[#buf + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then buf[#buf + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then buf[#buf + 1] = string.format("%.0f", v)
    else buf[#buf + 1] = string.format("%.17g", v) end
  elseif tv == "string" then
    buf[#buf + 1] = cjson.encode(v)
  elseif tv == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif v == nil or v == cjson.null then
    buf[#buf + 1] = "null"
  else
    error("out.encode: cannot encode a " .. tv)
  end
end

function out.encode(v)
  local buf = {}
  encode(v, buf, 0)
  return table.concat(buf)
end

function out.json(v, file)
  file = file or io.stdout
  file:write(out.encode(v), "\n")
  file:flush()
end

local tty_cache = {}
function out.isatty(fd)
  fd = fd or 2
  local force = os.getenv("MEMDBG_PROGRESS")
  if force == "0" then return false end
  if force == "1" then return true end
  if tty_cache[fd] == nil then
    local ok = os.execute("test -t " .. math.floor(fd))
    tty_cache[fd] = ok == true or ok == 0
  end
  return tty_cache[fd]
end

local function now()
  return os.clock()
end

function out.progress(label, file)
  file = file or io.stderr
  local bar = { active = out.isatty(2), last = -1, lastt = -1 }
  function bar.update(_, done, total)
    if not bar.active then return end
    local pct = total and total > 0 and math.floor(done * 100 / total) or 0
    local t = now()
    if pct == bar.last or (t - bar.lastt < 0.1 and pct < 100) then return end
    bar.last, bar.lastt = pct, t
    local cols = 30
    local filled = math.floor(cols * pct / 100)
    file:write(string.format("\r%s [%s%s] %3d%% %s / %s\27[K", label, string.rep("#", filled),
      string.rep(".", cols - filled), pct, out.bytes(done), out.bytes(total or 0)))
    file:flush()
  end
  function bar.finish()
    if bar.active and bar.last >= 0 then
      file:write("\r\27[K")
      file:flush()
    end
    bar.last = -1
  end
  bar.callback = function(done, total) bar:update(done, total) end
  return bar
end

function out.die(code, fmt, ...)
  io.stderr:write("memdbg: " .. string.format(fmt, ...) .. "\n")
  return code
end

return out
