-- Files memdbg writes, and the checks it makes before writing one.
--   local files = require "memdbg.util.files"
--   local ok, err, code = files.checkDestination("out.heapsnapshot", { force = true })
--   local ok, err, code = files.write("heap.svg", text)          -- 0600, atomic, never through a link
--   local f = files.create("heap.csv"); f:write(...); f:publish("heap.csv", opts); f:close()
--
-- Every file is created new and private (mode 0600) in its destination's
-- directory, unnamed (O_TMPFILE) or under a name created exclusively, marked
-- as memdbg's (the xattr user.memdbg) before it has a name, and is linked
-- into place only when complete. An existing regular file is replaced
-- (atomically) only when it carries that mark: memdbg made it. Any regular
-- file with force = true, none with noClobber = true. Anything else at the
-- destination (a directory, a symbolic link, a FIFO, a socket, a device) is
-- refused. All of it is checked before anything is asked of the runtime, and
-- again when the file is put in place. See docs/files.md.
--
-- Errors: nil, message, code with code "EPATH" (the destination cannot be
-- used), "EEXIST" (it exists and may not be replaced) or "EIO".
local core = require("memdbg._core")

local files = {}

--- The directory part of a path ("." when there is none).
function files.dirname(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == nil then return "." end
  if dir == "" then return "/" end
  return dir
end

--- refusal(path, opts) -> nil, message, "EEXIST" when the existing regular
--- file at path may not be replaced, else true.
function files.refusal(path, opts)
  if opts.noClobber then
    return nil, path .. " exists (and --no-clobber/noClobber refuses to replace it)", "EEXIST"
  end
  if opts.force then return true end
  local marked, supported = core.fileMarked(path)
  if marked then return true end
  if not supported then
    return nil, path .. " exists and memdbg cannot tell whether it created it (this filesystem has no user "
      .. "extended attributes to mark its files); choose another name, remove it, or pass --force",
      "EEXIST"
  end
  return nil, path .. " exists and memdbg did not create it; choose another name, remove it, or pass --force",
    "EEXIST"
end

--- checkDestination(path[, {noClobber=, force=}]) -> true | nil, message,
--- code: may memdbg create or replace a file at path?
function files.checkDestination(path, opts)
  opts = opts or {}
  if type(path) ~= "string" or path == "" then
    return nil, "the output path is empty: give a file name", "EPATH"
  end
  if path:sub(-1) == "/" then return nil, path .. " names a directory, not a file", "EPATH" end
  local kind, err, code = core.fileKind(path)
  if kind == nil then return nil, err, code end
  if kind == "file" then
    return files.refusal(path, opts)
  elseif kind == "directory" then
    return nil, path .. " is a directory: give a file name (or --dir DIR)", "EPATH"
  elseif kind == "symbolic link" then
    return nil, path .. " is a symbolic link: memdbg never writes through a link (give the real path)", "EPATH"
  elseif kind then
    return nil, string.format("%s is a %s, not a regular file: memdbg writes only regular files", path, kind), "EPATH"
  end
  -- absent: its directory must exist ("DIR/." follows a link to a directory)
  local dir = files.dirname(path)
  local dkind, derr, dcode = core.fileKind(dir .. "/.")
  if dkind == nil then return nil, derr, dcode end
  if dkind ~= "directory" then
    return nil, string.format("cannot create %s: %s is not an existing directory", path, dir), "EPATH"
  end
  return true
end

--- read(path) -> text | nil, message, code: a whole regular file, refused
--- ("EPATH") at once when it is a FIFO, a socket, a device or a directory
--- (opened non-blocking and checked before anything is read).
function files.read(path)
  if type(path) ~= "string" or path == "" then return nil, "the path is empty: give a file name", "EPATH" end
  return core.readFile(path)
end

--- checkDirectory(dir) -> true | nil, message, "EPATH": may memdbg put new
--- files in dir (existing, or to be created)?
function files.checkDirectory(dir)
  if type(dir) ~= "string" or dir == "" then return nil, "the directory path is empty", "EPATH" end
  if core.fileKind(dir .. "/.") == "directory" then return true end
  local own, err = core.fileKind((dir:gsub("(.)/+$", "%1")))
  if own == false then return true end -- absent: it will be created (mode 0700)
  if own == nil then return nil, err, "EPATH" end
  return nil, string.format("%s is a %s, not a directory", dir, own), "EPATH"
end

--- create(name) -> file | nil, message, code: a new private file that
--- appears only on file:publish(dest[, {noClobber=, force=}]); file:write(text),
--- file:close() (an unpublished file is then gone).
function files.create(name)
  return core.createFile(name)
end

--- write(path, text[, {noClobber=, force=}]) -> true | nil, message, code:
--- the whole file at once, replacing atomically an existing regular file
--- memdbg made (any with force).
function files.write(path, text, opts)
  opts = opts or {}
  local ok, err, code = files.checkDestination(path, opts)
  if not ok then return nil, err, code end
  local f
  f, err, code = core.createFile(path)
  if not f then return nil, err, code end
  ok, err, code = f:write(text)
  if ok then ok, err, code = f:publish(path, opts) end
  f:close()
  if not ok then return nil, err, code end
  return true
end

------------------------------------------------------- temporary directories

-- Private temp dirs made in this run and the files memdbg put in them: what
-- removeTemporaries() may remove when a run is cut short (Ctrl-C, SIGTERM),
-- and nothing else.
local temp = { dirs = {}, order = {}, files = {} }

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
--- quote(s) -> s quoted for sh
files.quote = shell_quote

--- mkdir(dir) -> dir | nil, message, "EIO": makes dir (and its parents)
--- with mode 0700 when it does not exist.
function files.mkdir(dir)
  local r = os.execute("mkdir -p -m 0700 " .. shell_quote(dir) .. " 2>/dev/null")
  if r ~= true and r ~= 0 then return nil, "cannot create the directory " .. dir, "EIO" end
  return dir
end

--- tempdir(prefix) -> dir | nil, message, "EIO": a new private directory
--- (mode 0700) under $TMPDIR or /tmp, registered as temporary.
function files.tempdir(prefix)
  local base = os.getenv("TMPDIR") or "/tmp"
  local f = io.popen("mktemp -d " .. shell_quote(base .. "/" .. (prefix or "memdbg") .. "-XXXXXX") .. " 2>&1")
  local out = f:read("*l")
  local ok = f:close()
  if not ok or not out or out:sub(1, 1) ~= "/" then
    return nil, "cannot create a temporary directory: " .. tostring(out), "EIO"
  end
  temp.dirs[out] = true
  temp.order[#temp.order + 1] = out
  return out
end

--- noteCreated(path): memdbg created path; when it is in a temporary
--- directory of this run, it goes with it on removeTemporaries().
function files.noteCreated(path)
  if temp.dirs[files.dirname(path)] then temp.files[#temp.files + 1] = path end
end

--- removeTemporaries(): removes the files noted in this run's temporary
--- directories, then the directories (only when that left them empty).
function files.removeTemporaries()
  for i = #temp.files, 1, -1 do os.remove(temp.files[i]) end
  for i = #temp.order, 1, -1 do os.remove(temp.order[i]) end
  files.forgetTemporaries()
end

--- forgetTemporaries(): the run ended normally; its directories are the
--- caller's now.
function files.forgetTemporaries()
  temp.dirs, temp.order, temp.files = {}, {}, {}
end

return files
