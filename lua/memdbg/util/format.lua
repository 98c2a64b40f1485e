-- Text for people: the one formatter of the CLI, the workflow scripts, the
-- workflows' reports and the Neovim plugin.
--
--   format.bytes(n)          -> "512 B", "1.50 KiB", "12.3 MiB", "2.00 GiB" (powers of 1024, IEC
--                               names; three significant digits; a negative keeps its sign; nil "-")
--   format.signed(n)         -> "+3", "-2", "0"; signed_bytes(n) -> "+1.50 KiB"
--   format.percent(x)        -> "93%" for a ratio 0.93
--   format.count(n, "leak")  -> "1 leak", "3 leaks"
--   format.where(loc)        -> "url:line:column" of a source location ({url, line, column}, 1-based;
--                               whatever is missing left out; a script without a url by its id)
--   format.path(steps)       -> a retainer path on one line, steps joined by " → " (ARROW)
--   format.table(columns, rows) -> an aligned text table (a string ending in "\n"):
--       columns = { {title=, key= | get=fn(row), align="left"|"right", format=fn(v, row), max=width}, ... }
--   format.cut(text, width)  -> text cut to width columns with "…"
--   format.progress(label[, {enabled=, file=}]) -> a progress line on stderr when it is a terminal,
--       else nothing: bar:update(done, total) (with a total: a bar and a percentage; without: bytes
--       so far), bar:finish() (clears the line); bar.active; bar.callback (fn(done, total))
--   format.isatty()          -> whether stderr is a terminal (MEMDBG_PROGRESS=0|1 forces the answer)
local format = {}

format.ARROW = "→"

local UNITS = { "B", "KiB", "MiB", "GiB", "TiB" }

function format.bytes(n)
  if type(n) ~= "number" then return "-" end
  local sign = n < 0 and "-" or ""
  local v = math.abs(n)
  local i = 1
  while v >= 1024 and i < #UNITS do
    v = v / 1024
    i = i + 1
  end
  if i == 1 then return string.format("%s%d B", sign, math.floor(v)) end
  local f = v >= 99.95 and "%s%.0f %s" or v >= 9.995 and "%s%.1f %s" or "%s%.2f %s"
  return string.format(f, sign, v, UNITS[i])
end

function format.signed(n)
  if type(n) ~= "number" then return "-" end
  if n > 0 then return "+" .. string.format("%d", n) end
  return string.format("%d", n)
end

function format.signed_bytes(n)
  if type(n) ~= "number" then return "-" end
  return (n > 0 and "+" or "") .. format.bytes(n)
end

function format.percent(ratio)
  if type(ratio) ~= "number" then return "-" end
  return string.format("%.0f%%", 100 * ratio)
end

function format.count(n, noun, plural)
  return string.format("%d %s", n, n == 1 and noun or (plural or noun .. "s"))
end

function format.where(loc)
  if type(loc) ~= "table" then return "" end
  local url = loc.url
  if type(url) ~= "string" or url == "" then
    url = loc.scriptId and ("(script " .. tostring(loc.scriptId) .. ")") or "(unnamed script)"
  end
  local line, col = tonumber(loc.line), tonumber(loc.column)
  if not line or line < 1 then return url end
  if not col or col < 1 then return string.format("%s:%d", url, line) end
  return string.format("%s:%d:%d", url, line, col)
end

function format.path(steps)
  local texts = {}
  for i, s in ipairs(steps or {}) do texts[i] = type(s) == "table" and tostring(s.text) or tostring(s) end
  return table.concat(texts, " " .. format.ARROW .. " ")
end

-- Display width: one column per UTF-8 code point (good enough for names).
local function width(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end
format.width = width

function format.cut(s, max)
  if not max or width(s) <= max then return s end
  local res, w = {}, 0
  for ch in s:gmatch("[%z\1-\127\194-\244][\128-\191]*") do
    if w >= max - 1 then break end
    res[#res + 1] = ch
    w = w + 1
  end
  return table.concat(res) .. "…"
end

local function cell(col, row)
  local v
  if col.get then v = col.get(row) else v = row[col.key] end
  if col.format then return tostring(col.format(v, row)) end
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 63 then return string.format("%d", v) end
  if v == nil then return "" end
  return tostring(v)
end

function format.table(columns, rows)
  local cells, widths = {}, {}
  for c, col in ipairs(columns) do widths[c] = width(col.title) end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, col in ipairs(columns) do
      local s = format.cut(cell(col, row), col.max)
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

------------------------------------------------------------------- progress

local tty
function format.isatty()
  local force = os.getenv("MEMDBG_PROGRESS")
  if force == "0" then return false end
  if force == "1" then return true end
  if tty == nil then
    local r = os.execute("test -t 2")
    tty = r == true or r == 0
  end
  return tty
end

local function clock()
  local okc, core = pcall(require, "memdbg._core")
  if okc then return core.now end
  return os.time
end

function format.progress(label, opts)
  opts = opts or {}
  local file = opts.file or io.stderr
  local bar = { active = opts.enabled ~= false and format.isatty() }
  local now = bar.active and clock() or nil
  local last, drawn = -1, false
  function bar.update(_, done, total)
    if not bar.active or type(done) ~= "number" then return end
    local t = now()
    local complete = total and done >= total
    if t - last < 0.1 and not complete then return end
    last = t
    local text
    if total and total > 0 then
      local frac = math.min(1, math.max(0, done / total))
      local fill = math.floor(frac * 30)
      text = string.format("\r%s [%s%s] %3d%%\27[K", label, string.rep("#", fill), string.rep(".", 30 - fill),
        math.floor(frac * 100))
    else
      text = string.format("\r%s: %s\27[K", label, format.bytes(done))
    end
    drawn = true
    file:write(text)
    file:flush()
  end
  function bar.finish()
    if drawn then
      file:write("\r\27[K")
      file:flush()
      drawn = false
    end
    last = -1
  end
  bar.callback = function(done, total) bar:update(done, total) end
  return bar
end

return format
