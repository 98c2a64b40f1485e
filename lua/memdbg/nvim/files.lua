-- luacheck: globals vim
-- Snapshot files and target discovery, each a `memdbg ... --json` child
-- process (memdbg.nvim.job): the engine parses a file in one blocking call.
-- Every function returns a handle at once (handle:cancel() stops the child)
-- and calls back through vim.schedule with the CLI's JSON document.
local job = require("memdbg.nvim.job")

local M = {}

local function need_file(who, path)
  if type(path) ~= "string" or path == "" then error("memdbg.nvim." .. who .. ": give a snapshot file", 3) end
  return vim.fn.fnamemodify(vim.fn.expand(path), ":p")
end

local function n(v, default) return tostring(math.floor(tonumber(v) or default)) end

--- summary{file=, top=50, onProgress=} -> {nodeCount, edgeCount, classes = {{name, count, shallowSize, retainedSize, location?}}}
function M.summary(opts, callback)
  local file = need_file("summary", opts.file)
  return job.run("summary", { "summary", file, "--top", n(opts.top, 50) }, opts, callback)
end

--- diff{base=, file=, top=50} -> {classes = {{name, new, deleted, delta, allocSize, freedSize, sizeDelta}}, matchedBy?}
function M.diff(opts, callback)
  local a, b = need_file("diff", opts.base), need_file("diff", opts.file)
  return job.run("diff", { "diff", a, b, "--top", n(opts.top, 50) }, opts, callback)
end

--- top{file=, n=20} -> {objects = {{id, name, className, selfSize, retainedSize, distance, location?}}}
function M.top(opts, callback)
  local file = need_file("top", opts.file)
  return job.run("top", { "top", file, "--top", n(opts.n, 20) }, opts, callback)
end

--- retainers{file=, id=} -> {node = {...}, path = {{text, id, ...}}, reachable}
function M.retainers(opts, callback)
  local file = need_file("retainers", opts.file)
  if not tonumber(opts.id) then error("memdbg.nvim.retainers: id must be a node id", 2) end
  local o = vim.tbl_extend("force", opts, { ok = { 0, 1 } })
  return job.run("retainers", { "retainers", file, n(opts.id, 0) }, o, callback)
end

--- targets{endpoint=, allowRemote=} -> {endpoint, targets = {{id, type, title, url, webSocketDebuggerUrl}}}
function M.targets(opts, callback)
  local args = { "targets", "--endpoint", opts.endpoint }
  if opts.allowRemote then args[#args + 1] = "--allow-remote" end
  return job.run("targets", args, opts, callback)
end

return M
