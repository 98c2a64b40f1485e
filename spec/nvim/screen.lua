-- Neovim on a real screen: a private tmux server (its own socket, killed at
-- the end) runs nvim in a detached session; send-keys types, capture-pane
-- reads the screen. Used by spec/nvim_spec.lua's screen tests.
--   local screen = dofile("spec/nvim/screen.lua")
--   local s = screen.start{ cmd = "nvim ...", cwd = dir, width = 120, height = 40 }
--   s:keys(":MemdbgUsage", "Enter"); s:wait("usedSize", 10); print(s:capture()); s:stop()
local proc = require("support.proc")

local M = {}

local function sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1; echo \"exit=$?\""))
  local out = f:read("*a")
  f:close()
  return tonumber(out:match("exit=(%d+)%s*$")), (out:gsub("exit=%d+%s*$", ""))
end

function M.available()
  return sh("command -v tmux >/dev/null") == 0
end

local Screen = {}
Screen.__index = Screen

-- tmux without the sanitizer runtimes a SANITIZE=1 busted carries
local TMUX = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS tmux"

local seq = 0

--- start{cmd=, cwd=, width=120, height=40} -> screen
function M.start(o)
  seq = seq + 1
  local s = setmetatable({ socket = string.format("memdbg-nvim-%d-%d-%d", os.time(), math.random(1e6), seq) }, Screen)
  local status, out = sh(string.format("cd %s && %s -L %s -f /dev/null new-session -d -s main -x %d -y %d %s",
    proc.quote(o.cwd or "."), TMUX, s.socket, o.width or 120, o.height or 40, proc.quote(o.cmd)))
  assert(status == 0, "tmux new-session failed: " .. out)
  return s
end

function Screen:tmux(args)
  return sh(TMUX .. " -L " .. self.socket .. " " .. args)
end

--- keys(...): each argument is literal text, or a tmux key name in <...> (e.g. "<Enter>", "<Escape>")
function Screen:keys(...)
  for _, k in ipairs({ ... }) do
    local name = k:match("^<(%w[%w-]*)>$")
    if name then
      self:tmux("send-keys -t main " .. name)
    else
      self:tmux("send-keys -t main -l " .. proc.quote(k))
    end
  end
end

--- capture() -> the screen's text
function Screen:capture()
  local _, out = self:tmux("capture-pane -p -t main")
  return out
end

--- wait(pattern, seconds) -> the screen once pattern (a Lua pattern, or a
--- function(text) -> bool) is on it; raises after seconds
function Screen:wait(pattern, seconds)
  local deadline = os.time() + (seconds or 10)
  local text
  repeat
    text = self:capture()
    if type(pattern) == "function" then
      if pattern(text) then return text end
    elseif text:match(pattern) then
      return text
    end
    proc.sleep(0.1)
  until os.time() > deadline
  error(string.format("%s did not appear on the screen in %d s:\n%s", tostring(pattern), seconds or 10, text), 2)
end

--- alive() -> whether the program in the session still runs (tmux ends the
--- session, and with its last one the server, when it exits)
function Screen:alive()
  return self:tmux("has-session -t main") == 0
end

function Screen:stop()
  self:tmux("kill-server")
end

return M
