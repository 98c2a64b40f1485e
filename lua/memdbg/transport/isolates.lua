-- Every isolate of a program: the session's own (the main thread, the page)
-- and those under it (workers, out-of-process iframes), as one list to run
-- an operation on; and connecting straight to a child by id, title or URL.
--
--   local isolates = require "memdbg.transport.isolates"
--   local list, note = isolates.list(session)
--   -- list = { {id, type, title, url, session = s, main = true}, {..., session = child}, ... }
--   -- note: why there are no children to list (Bun, workerd), or nil
--   local rows = isolates.usage(session)   -- {isolates = {...}, total = {usedSize, totalSize}}
--   local s = isolates.connect{ endpoint = "http://127.0.0.1:9229", target = "leaky-worker" }
--
-- Errors are nil, message, code; argument mistakes raise.
local isolates = {}

--- describe(session) -> {id, type, title, url} of the session's own isolate.
function isolates.describe(s)
  if s.isolate then return s.isolate end
  local t = type(s.target) == "table" and s.target or {}
  return { id = tostring(t.id or s.url), type = tostring(t.type or s.runtime), title = tostring(t.title or ""),
    url = tostring(t.url or s.url) }
end

--- list(session) -> isolates, note | nil, message, code
--- The session's own isolate first, then each child attached. When the
--- runtime has no children to offer (EUNSUPPORTED) the list is the session
--- alone and note says why; other failures are errors.
function isolates.list(s)
  local main = isolates.describe(s)
  local out = { { id = main.id, type = main.type, title = main.title, url = main.url, session = s, main = true } }
  local kids, err, code = s:children()
  if not kids then
    if code == "EUNSUPPORTED" then return out, err end
    return nil, err, code
  end
  for _, k in ipairs(kids) do
    local child = s:attach(k.id)
    -- a child that went away between the list and the attach is not listed
    if child then out[#out + 1] = { id = k.id, type = k.type, title = k.title, url = k.url, session = child } end
  end
  return out
end

--- usage(session, {gc = false}) -> {isolates = {{id, type, title, usedSize, totalSize}, ...},
---   total = {usedSize, totalSize}, note = , skipped = {{id, message, code}, ...}}
--- A child that fails (it went away meanwhile) is left out and named in skipped.
function isolates.usage(s, opts)
  opts = opts or {}
  local list, note, ncode = isolates.list(s)
  if not list then return nil, note, ncode end
  local rows, skipped = {}, {}
  local total = { usedSize = 0, totalSize = 0 }
  for _, iso in ipairs(list) do
    local mem = iso.session.memory
    local ok, err, code = true, nil, nil
    if opts.gc then ok, err, code = mem:collectGarbage() end
    local u
    if ok then u, err, code = mem:getHeapUsage() end
    if u then
      rows[#rows + 1] = { id = iso.id, type = iso.type, title = iso.title, usedSize = u.usedSize,
        totalSize = u.totalSize }
      total.usedSize = total.usedSize + u.usedSize
      total.totalSize = total.totalSize + u.totalSize
    elseif iso.main then
      return nil, err, code
    else
      skipped[#skipped + 1] = { id = iso.id, message = err, code = code }
    end
  end
  return { isolates = rows, total = total, note = note, skipped = skipped }
end

--- match(candidates, selector) -> the candidate whose id is selector, else
--- the one whose title or URL contains it | nil, message (none, or several).
function isolates.match(candidates, selector)
  for _, c in ipairs(candidates) do
    if c.id == selector then return c end
  end
  local found = {}
  for _, c in ipairs(candidates) do
    if tostring(c.title):find(selector, 1, true) or tostring(c.url):find(selector, 1, true) then
      found[#found + 1] = c
    end
  end
  if #found == 1 then return found[1] end
  local names = {}
  for _, c in ipairs(#found > 1 and found or candidates) do
    names[#names + 1] = string.format("%s %s %q", c.type, c.id, c.title)
  end
  if #found > 1 then
    return nil, string.format("%q matches %d isolates (%s): give one's id", selector, #found,
      table.concat(names, ", "))
  end
  return nil, string.format("no isolate matches %q by id, title or URL (%s)", selector,
    #names > 0 and table.concat(names, ", ") or "none")
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The targets worth looking under: pages and runtimes, not Chromium's own UI,
-- nor workers and iframes (those are children of a page).
local function holds_children(t)
  return (t.type == "page" or t.type == "node") and not tostring(t.url or ""):match("^chrome")
    and not tostring(t.url or ""):match("^devtools")
end

--- connect(opts) -> session | nil, message, code
--- memdbg.connect, where a string target that matches no target at the
--- endpoint may also name a child (its id, or a substring of its title or
--- URL) of one of the endpoint's pages or runtimes, or a target by a
--- substring of its title or URL. A child's session closes its parent's
--- connection with it.
function isolates.connect(opts)
  local memdbg = require("memdbg")
  local s, err, code = memdbg.connect(opts)
  if s or code ~= "ENOTARGET" or type(opts.target) ~= "string" then return s, err, code end
  local list = memdbg.targets(opts.endpoint, { timeout = opts.timeout, allowRemote = opts.allowRemote })
  if not list then return nil, err, code end
  local candidates, seen = {}, {}
  for _, t in ipairs(list) do
    if t.webSocketDebuggerUrl and t.type ~= "browser_ui" and t.type ~= "browser" then
      candidates[#candidates + 1] = { id = t.id, type = t.type, title = t.title, url = t.url, top = t }
      seen[t.id] = true
    end
  end
  local roots = {}
  local function close_roots(keep)
    for _, r in ipairs(roots) do if r ~= keep then r:close() end end
  end
  for _, t in ipairs(list) do
    if holds_children(t) and t.webSocketDebuggerUrl then
      local o = copy(opts)
      o.target = t.id
      local root = memdbg.connect(o)
      if root then
        roots[#roots + 1] = root
        -- Chromium lists its workers and iframes at the top level too
        for _, k in ipairs(root:children() or {}) do
          if not seen[k.id] then
            candidates[#candidates + 1] = { id = k.id, type = k.type, title = k.title, url = k.url, root = root }
          end
        end
      end
    end
  end
  local chosen, merr = isolates.match(candidates, opts.target)
  if not chosen then
    close_roots()
    return nil, string.format("%s at %s", merr, tostring(opts.endpoint)), "ENOTARGET"
  end
  if chosen.top then
    close_roots()
    local o = copy(opts)
    o.target = chosen.id
    return memdbg.connect(o)
  end
  close_roots(chosen.root)
  local child, aerr, acode = chosen.root:attach(chosen.id)
  if not child then
    chosen.root:close()
    return nil, aerr, acode
  end
  rawset(child, "closesRoot", true)
  return child
end

return isolates
