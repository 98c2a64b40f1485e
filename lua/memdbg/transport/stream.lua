-- A streamed transfer on a session: a heap snapshot's worth of data that the
-- C sink writes to a new private file (or that arrives in Lua), waited for
-- until the command that asked for it is answered, then linked in as its
-- file or dropped. session:stream(o) makes one; the memory adapters use it
-- instead of the session's connection and pending commands.
--
--   local st, err, code = session:stream{ path = PARTIAL, method = "HeapProfiler.addHeapSnapshotChunk",
--     field = "chunk", noClobber = false, force = false }  -- or {path=, replyId = id, field=}; {} when Lua takes the data;
--                                           -- command = id: as st:command(id), and forgotten if the sink fails
--   st:command(id)       -- the command the stream waits on: forgotten when the stream fails
--   st:touch()           -- something arrived that Lua saw (a chunk event, a progress report)
--   local ok, err, code = st:wait{ done = fn, idle = 30 | deadline = 120, whileWaiting = fn,
--     onBytes = fn(bytes, chunks), stalled = "message" }
--   local bytes, chunks = st:status()
--   local bytes, err, code = st:finish(PATH)  -- success: the file becomes PATH
--   local kept = st:abandon(keepPartial)      -- failure: the file goes (or stays as PATH.partial)
--
-- wait: done() -> true (finished), false, message, code (failed) or nil (not
-- yet), asked before each wait; the sink's errors and a closed session fail
-- it; `idle` seconds with nothing arriving (bytes, or touch()) or `deadline`
-- seconds in all fail it with ETIMEDOUT (`stalled` is the message). An error
-- raised meanwhile (Ctrl-C: "interrupted!") abandons the stream first.
local core = require("memdbg._core")

local stream = {}

local Stream = {}
Stream.__index = Stream

--- open(port, o) -> stream | nil, message, code. port (from session.lua):
--- {conn = the connection (its sinkStart/sinkStatus/sinkFinish), pump = fn(seconds),
---  forget = fn(id), closed = fn() -> nil | {message, code}}
function stream.open(port, o)
  local self = setmetatable({ port = port, bytes = 0, chunks = 0, last = core.now(), sinking = false }, Stream)
  self.id = o.command
  if o.path then
    local ok, err, code = port.conn:sinkStart { path = o.path, method = o.method, field = o.field,
      replyId = o.replyId, noClobber = o.noClobber, force = o.force }
    if not ok then
      if o.command then port.forget(o.command) end
      return nil, err, code
    end
    self.sinking = true
  end
  return self
end

function Stream:command(id)
  self.id = id
end

function Stream:touch()
  self.last = core.now()
end

--- status() -> bytes, chunks (the sink's counts; a closed connection leaves the last ones)
function Stream:status()
  if self.sinking then
    local ok, b, c = pcall(self.port.conn.sinkStatus, self.port.conn)
    if ok and b then self.bytes, self.chunks = b, c end
  end
  return self.bytes, self.chunks
end

-- The sink's own failure (a write error, a chunk in a shape it does not take).
local function sink_error(self)
  if not self.sinking then return nil end
  local ok, _, _, emsg, ecode = pcall(self.port.conn.sinkStatus, self.port.conn)
  if ok and emsg then return emsg, ecode or "EPROTO" end
end

local function loop(self, w)
  local t0 = core.now()
  local nextHook = t0
  while true do
    local ok, msg, code = w.done()
    if ok then return true end
    if ok == false then return nil, msg, code end
    -- not yet: is it still coming?
    local closed = self.port.closed()
    if closed then return nil, closed[1] or "the connection was lost", closed[2] or "ECLOSED" end
    local t = core.now()
    if (w.idle and t - self.last > w.idle) or (w.deadline and t - t0 > w.deadline) then
      return nil, w.stalled or string.format("nothing arrived for %g s", w.idle or w.deadline), "ETIMEDOUT"
    end
    if w.whileWaiting and t >= nextHook then
      nextHook = t + 0.25
      w.whileWaiting()
    end
    self.port.pump(0.1)
    local b, c = self.bytes, self.chunks
    self:status()
    if self.bytes ~= b or self.chunks ~= c then
      self.last = core.now()
      if w.onBytes then w.onBytes(self.bytes, self.chunks) end
    end
    local emsg, ecode = sink_error(self)
    if emsg then return nil, emsg, ecode end
  end
end

function Stream:wait(w)
  local ok, r1, r2, r3 = pcall(loop, self, w)
  if not ok then
    self:abandon(w.keepPartial)
    error(r1, 0)
  end
  if not r1 and self.id then
    self.port.forget(self.id)
    self.id = nil
  end
  return r1, r2, r3
end

--- finish(path) -> bytes | nil, message, code: the data is complete; the
--- file is fsynced and linked in as path (see sink.c). Without a sink: the bytes counted.
function Stream:finish(path)
  if self.done then return nil, "the stream is over", "EPROTO" end
  self.done = true
  if not self.sinking then return self.bytes end
  self:status()
  return self.port.conn:sinkFinish(path)
end

--- abandon([keepPartial]) -> where the partial data was kept, or nil: the
--- file goes (or stays, with keepPartial), the command is forgotten. Safe to call twice.
function Stream:abandon(keepPartial)
  if self.id then
    self.port.forget(self.id)
    self.id = nil
  end
  if self.done then return nil end
  self.done = true
  if not self.sinking then return nil end
  self:status()
  local ok, _, kept = pcall(self.port.conn.sinkFinish, self.port.conn, nil, keepPartial)
  if ok then return kept end
end

return stream
