-- Helpers for the heap specs: hand-built snapshots, temp files, Node runs,
-- and a straight reading of snapshot JSON with cjson (the independent
-- reference the engine's numbers are checked against).
local cjson = require "cjson"

local fx = {}

local NODE_TYPES = { "hidden", "array", "string", "object", "code", "closure", "regexp", "number", "native",
  "synthetic", "concatenated string", "sliced string", "symbol", "bigint", "object shape" }
local EDGE_TYPES = { "context", "element", "property", "internal", "hidden", "shortcut", "weak" }
fx.NODE_TYPES, fx.EDGE_TYPES = NODE_TYPES, EDGE_TYPES

local function index_of(list, v)
  for i, x in ipairs(list) do
    if x == v then return i - 1 end
  end
  error("unknown type " .. tostring(v))
end

--- v8{nodes = {{type, name, id, size[, detachedness]}, ...}, edges = {{from, to, type, name}, ...},
---    fields = {"type","name","id","self_size","edge_count"[, ...]}, extra = {key = value}}
--- -> snapshot table (encode with cjson). Nodes are referred to by 1-based position; node 1 is the
--- root. Edge names are strings, or numbers for element/hidden edges.
function fx.v8(g)
  local fields = g.fields or { "type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness" }
  local strings, sidx = { "<dummy>" }, { ["<dummy>"] = 0 }
  local function str(s)
    if sidx[s] == nil then
      strings[#strings + 1] = s
      sidx[s] = #strings - 1
    end
    return sidx[s]
  end
  local out_edges = {}
  for i = 1, #g.nodes do out_edges[i] = {} end
  for _, e in ipairs(g.edges or {}) do table.insert(out_edges[e[1]], e) end
  local nodes, edges = {}, {}
  for i, n in ipairs(g.nodes) do
    for _, f in ipairs(fields) do
      local v
      if f == "type" then v = index_of(NODE_TYPES, n[1])
      elseif f == "name" then v = str(n[2])
      elseif f == "id" then v = n[3]
      elseif f == "self_size" then v = n[4]
      elseif f == "edge_count" then v = #out_edges[i]
      elseif f == "detachedness" then v = n[5] or 0
      else v = 0 end
      nodes[#nodes + 1] = v
    end
  end
  local nf = #fields
  for i = 1, #g.nodes do
    for _, e in ipairs(out_edges[i]) do
      edges[#edges + 1] = index_of(EDGE_TYPES, e[3])
      edges[#edges + 1] = type(e[4]) == "number" and e[4] or str(e[4])
      edges[#edges + 1] = (e[2] - 1) * nf
    end
  end
  local node_types = {}
  for i, f in ipairs(fields) do node_types[i] = f == "type" and NODE_TYPES or f == "name" and "string" or "number" end
  local snap = {
    snapshot = {
      meta = {
        node_fields = fields,
        node_types = node_types,
        edge_fields = { "type", "name_or_index", "to_node" },
        edge_types = { EDGE_TYPES, "string_or_number", "node" },
      },
      node_count = #g.nodes,
      edge_count = #edges / 3,
    },
    nodes = nodes,
    edges = edges,
    strings = strings,
  }
  for k, v in pairs(g.extra or {}) do snap[k] = v end
  return snap
end

function fx.encode(t) return cjson.encode(t) end

--- the snapshot table as text with the keys in V8's order (cjson's order is arbitrary)
function fx.v8_text(t)
  local parts = {}
  for _, k in ipairs { "snapshot", "nodes", "edges", "trace_function_infos", "trace_tree", "samples", "locations",
    "strings" } do
    if t[k] ~= nil then parts[#parts + 1] = cjson.encode(k) .. ":" .. cjson.encode(t[k]) end
  end
  return "{" .. table.concat(parts, ",\n") .. "}"
end

local tmpdirs = {}
function fx.tmpdir()
  local p = io.popen("mktemp -d /tmp/memdbg-heap-spec.XXXXXX")
  local dir = p:read("*l")
  p:close()
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

function fx.cleanup()
  for _, d in ipairs(tmpdirs) do
    if d:match("^/tmp/memdbg%-heap%-spec%.") then os.execute("rm -rf '" .. d .. "'") end
  end
  tmpdirs = {}
end

function fx.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function fx.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local counter = 0
--- writes a snapshot table (or text) to a temp file; returns its path
function fx.file(snap, dir)
  counter = counter + 1
  dir = dir or fx.tmpdir()
  local text = type(snap) == "string" and snap or cjson.encode(snap)
  return fx.write(string.format("%s/s%d.json", dir, counter), text)
end

function fx.have_node()
  local r = os.execute("command -v node >/dev/null 2>&1")
  return r == true or r == 0
end

--- runs a Node.js script (source text) in dir; returns ok, output
function fx.node(dir, source)
  local script = fx.write(dir .. "/app.js", source)
  -- a sanitizer build preloads libasan into Lua; node must not inherit it
  local p = io.popen("cd '" .. dir .. "' && env -u LD_PRELOAD -u ASAN_OPTIONS node '" .. script .. "' 2>&1")
  local out = p:read("*a")
  local ok = p:close()
  return ok, out
end

--- a straight reading of a V8 snapshot file with cjson:
--- { nodes = {{type, name, id, self, edges = {{type, name, to}}}}, meta = ..., count = n }
function fx.read_v8(path)
  local d = cjson.decode(fx.read(path))
  local m = d.snapshot.meta
  local nf, ef = #m.node_fields, #m.edge_fields
  local pos = {}
  for i, f in ipairs(m.node_fields) do pos[f] = i - 1 end
  local ntypes, etypes = m.node_types[1], m.edge_types[1]
  local N, E, S = d.nodes, d.edges, d.strings
  local nodes = {}
  local e = 0
  for i = 0, #N / nf - 1 do
    local base = i * nf + 1
    local n = {
      type = ntypes[N[base + pos.type] + 1],
      name = S[N[base + pos.name] + 1],
      id = N[base + pos.id],
      self = N[base + pos.self_size],
      edges = {},
    }
    for _ = 1, N[base + pos.edge_count] do
      local et = etypes[E[e * ef + 1] + 1]
      local nm = E[e * ef + 2]
      n.edges[#n.edges + 1] = {
        type = et,
        name = (et == "element" or et == "hidden") and nm or S[nm + 1],
        to = math.floor(E[e * ef + 3] / nf) + 1,
      }
      e = e + 1
    end
    nodes[i + 1] = n
  end
  return { nodes = nodes, snapshot = d.snapshot, edge_total = #E / ef }
end

--- DevTools' class name of a node from read_v8
function fx.class_name(n)
  if n.type == "hidden" then return "(system)" end
  if n.type == "object" or n.type == "native" then return n.name end
  if n.type == "code" then return "(compiled code)" end
  return "(" .. n.type .. ")"
end

--- DevTools' own dominator algorithm (postorder + Cooper-Harvey-Kennedy,
--- with its page-owned flags, essential-edge test and orphan handling), on a
--- read_v8 graph: returns retained sizes by node id. Independent of the
--- engine's Lengauer-Tarjan.
function fx.devtools_retained(g)
  local nodes = g.nodes
  local n = #nodes
  -- page-owned: what the root's shortcut edges and "(Document DOM trees)" reach without weak edges
  local page, todo = {}, {}
  for _, e in ipairs(nodes[1].edges) do
    local t = nodes[e.to]
    if (e.type == "shortcut" or (e.type == "element" and t.type == "synthetic" and t.name == "(Document DOM trees)"))
      and not page[e.to] then
      page[e.to] = true
      todo[#todo + 1] = e.to
    end
  end
  while #todo > 0 do
    local v = table.remove(todo)
    for _, e in ipairs(nodes[v].edges) do
      if not page[e.to] and e.type ~= "weak" then
        page[e.to] = true
        todo[#todo + 1] = e.to
      end
    end
  end
  local function essential(from, e)
    if e.type == "internal" and type(e.name) == "string" then
      local t = e.name:match("^%d+ / part of key %(.* @%d+%) %-> value %(.* @%d+%) pair in WeakMap %(table @(%d+)%)$")
        or e.name:match("^part of key %(.* @%d+%) %-> value %(.* @%d+%) pair in WeakMap %(table @(%d+)%)$")
      if t and tonumber(t) == nodes[from].id then return false end
    end
    if e.type == "weak" or e.to == from then return false end
    if from ~= 1 then
      if e.type == "shortcut" then return false end
      if page[e.to] and not page[from] then return false end
    end
    return true
  end
  local preds, weak_only = {}, {}
  for i = 1, n do
    preds[i] = {}
    weak_only[i] = true
  end
  for i = 1, n do
    for _, e in ipairs(nodes[i].edges) do
      if essential(i, e) then
        table.insert(preds[e.to], i)
        weak_only[e.to] = false -- DevTools: "only weak retainers" means no essential one
      end
    end
  end
  local visited, po = {}, {}
  local function dfs(start)
    local stack = { { start, 1 } }
    visited[start] = true
    while #stack > 0 do
      local top = stack[#stack]
      local v, k = top[1], top[2]
      local es = nodes[v].edges
      if k <= #es then
        top[2] = k + 1
        local e = es[k]
        if essential(v, e) and not visited[e.to] then
          visited[e.to] = true
          stack[#stack + 1] = { e.to, 1 }
        end
      else
        po[#po + 1] = v
        stack[#stack] = nil
      end
    end
  end
  dfs(1)
  if #po ~= n then
    po[#po] = nil -- the root goes last again
    for i = 1, n do
      if not visited[i] and weak_only[i] then dfs(i) end
    end
    for i = 1, n do
      if not visited[i] then po[#po + 1] = i end
    end
    po[#po + 1] = 1
  end
  local poi = {}
  for i, v in ipairs(po) do poi[v] = i end
  local R, NOE = n, n + 1
  local dom = {}
  for i = 1, n do dom[i] = NOE end
  dom[R] = R
  local changed = true
  while changed do
    changed = false
    for p = R - 1, 1, -1 do
      local v = po[p]
      local nd, orphan = NOE, true
      for _, u in ipairs(preds[v]) do
        orphan = false
        local up = poi[u]
        if dom[up] ~= NOE then
          if nd == NOE then nd = up
          else
            while up ~= nd do
              while up < nd do up = dom[up] end
              while nd < up do nd = dom[nd] end
            end
          end
        end
      end
      if orphan then nd = R end
      if nd ~= NOE and dom[p] ~= nd then
        dom[p] = nd
        changed = true
      end
    end
  end
  local ret = {}
  for i = 1, n do ret[i] = nodes[i].self end
  for p = 1, n - 1 do
    local v = po[p]
    local d = dom[p] ~= NOE and po[dom[p]] or 1
    ret[d] = ret[d] + ret[v]
  end
  local by_id = {}
  for i = 1, n do by_id[nodes[i].id] = ret[i] end
  return by_id
end

return fx
