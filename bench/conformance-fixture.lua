-- Writes a tiny V8 snapshot on which DevTools' rules (memdbg) and MemLab's
-- disagree in each known way, so bench/conformance shows its explanations at
-- work (real Node heaps rarely trigger them):
--   root -wm-> WeakMap@3 -table-> (array)@5 ~weak~> K@7, ~weak~> V@9, and
--   "part of key (Object @7) -> value (Object @9) pair in WeakMap (table @5)"
--   from both the table and K to V; root -k-> K; V -x-> X@11.
--     DevTools: V under K (the table's copy does not retain). MemLab: V under the root.
--   root -h-> H@17 ~weak~> W@13 -r-> R@15; root -g-> G@19 -r-> R.
--     memdbg: W (weakly held only) hangs from the root, so R's dominator is the root.
--     MemLab: W is not "page-owned" (its flags follow the root's non-shortcut
--     edges, then strong edges), R is, so W's edge into R is dropped: R under G.
-- With --v8-names the two ephemeron edges are named as V8 writes them, with an
-- auto index first ("1 / part of key ..."), which DevTools requires: the WeakMap
-- rule must give the same dominators either way.
--   lua5.4 bench/conformance-fixture.lua OUT [--v8-names]
local root = (arg[0]:match("^(.*)/bench/[^/]*$") or ".")
package.path = root .. "/spec/?.lua;" .. package.path
local fx = require "support.heapfixture"
local eph = "part of key (Object @7) -> value (Object @9) pair in WeakMap (table @5)"
local v8names = arg[2] == "--v8-names"
local t = fx.v8 {
  nodes = { { "synthetic", "", 1, 0 }, { "object", "WeakMap", 3, 8 }, { "array", "", 5, 16 },
    { "object", "Object", 7, 12 }, { "object", "Object", 9, 20 }, { "object", "X", 11, 40 },
    { "object", "W", 13, 24 }, { "object", "R", 15, 100 }, { "object", "H", 17, 8 }, { "object", "G", 19, 4 } },
  edges = { { 1, 2, "property", "wm" }, { 1, 4, "property", "k" }, { 1, 9, "property", "h" },
    { 1, 10, "property", "g" },
    { 2, 3, "internal", "table" }, { 3, 4, "weak", 1 }, { 3, 5, "weak", 2 },
    { 3, 5, "internal", v8names and "2 / " .. eph or eph },
    { 4, 5, "internal", v8names and "1 / " .. eph or eph }, { 5, 6, "property", "x" },
    { 9, 7, "weak", "w" }, { 7, 8, "property", "r" }, { 10, 8, "property", "r" } },
}
local f = assert(io.open(assert(arg[1], "usage: lua5.4 bench/conformance-fixture.lua OUT"), "w"))
f:write(fx.encode(t))
f:close()
