-- Dominators, retained sizes, distances, summaries, diffs and retainer paths
-- on small graphs whose answers are worked out by hand in the comments.
local heap = require "memdbg.analysis.heap"
local fx = require "support.heapfixture"

local function load(g)
  return assert(heap.parse(fx.v8_text(fx.v8(g))))
end

local function by_name(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.name] = r end
  return t
end

-- G1 (ids in parentheses, sizes after the colon):
--   root(1) -a-> A(3):10;  A -b-> B(5):20;  A -c-> C(7):30;  B -d-> D(9):40;  C -d-> D
--   D -e-> E(11):50;  E -back-> B (cycle);  A -self-> A (self edge)
--   root ~weak~> F(13):5 -g-> G(15):7      (F is held only weakly)
--   A ~weak~> X(17):3;  B -x-> X
--   Y(19):11 <-> Z(21):13                  (a cycle nothing else retains)
-- Dominators: A<-root, B<-A (A->C->D->E->B avoids B), C<-A, D<-A (two ways in), E<-D,
--   X<-B (the weak edge does not count), F<-root (weakly held: hangs from the root), G<-F,
--   Y, Z <- root (unreachable cycle).
-- Retained: X 3, B 20+3=23, E 50, D 40+50=90, C 30, A 10+23+30+90=153, G 7, F 5+7=12, Y 11, Z 13,
--   root 153+12+11+13 = 189.
-- Distances (BFS, weak edges skipped): A 1, B 2, C 2, D 3, X 3, E 4; Y, Z unreachable. F is a child
--   of the root (by a weak edge, which DevTools' first round of user roots does not look at): F 1, G 2.
--   The root itself is at 100000000 (DevTools' base for system distances: the root has user roots).
local G1 = {
  nodes = {
    { "synthetic", "", 1, 0 },
    { "object", "A", 3, 10 }, { "object", "B", 5, 20 }, { "object", "C", 7, 30 }, { "object", "D", 9, 40 },
    { "object", "E", 11, 50 }, { "object", "F", 13, 5 }, { "object", "G", 15, 7 }, { "object", "X", 17, 3 },
    { "object", "Y", 19, 11 }, { "object", "Z", 21, 13 },
  },
  edges = {
    { 1, 2, "property", "a" }, { 1, 7, "weak", "f" },
    { 2, 3, "property", "b" }, { 2, 4, "property", "c" }, { 2, 2, "property", "self" }, { 2, 9, "weak", "wx" },
    { 3, 5, "property", "d" }, { 3, 9, "property", "x" },
    { 4, 5, "property", "d" },
    { 5, 6, "property", "e" },
    { 6, 3, "property", "back" },
    { 7, 8, "property", "g" },
    { 10, 11, "property", "z" }, { 11, 10, "property", "y" },
  },
}

describe("heap analysis", function()
  after_each(fx.cleanup)

  describe("dominators and retained sizes", function()
    it("handle cycles, weak edges, self edges and unreachable cycles (G1)", function()
      local snap = load(G1)
      local want = {
        [3] = { 153, 1, 1 }, [5] = { 23, 3, 2 }, [7] = { 30, 3, 2 }, [9] = { 90, 3, 3 }, [11] = { 50, 9, 4 },
        [13] = { 12, 1, 1 }, [15] = { 7, 13, 2 }, [17] = { 3, 5, 3 }, [19] = { 11, 1 }, [21] = { 13, 1 },
      }
      for id, w in pairs(want) do
        local n = snap:node(id)
        assert.are.same({ id, w[1], w[2], w[3] }, { n.id, n.retainedSize, n.dominatorId, n.distance })
      end
      assert.are.equal(189, snap:node(1).retainedSize)
      assert.are.equal(189, snap.totalSize)
      assert.are.equal(100000000, snap:node(1).distance)
    end)

    it("match DevTools' own algorithm on G1", function()
      local path = fx.file(fx.v8_text(fx.v8(G1)))
      local ref = fx.devtools_retained(fx.read_v8(path))
      local snap = assert(heap.load(path))
      for id, size in pairs(ref) do assert.are.equal(size, snap:node(id).retainedSize, "node @" .. id) end
    end)

    -- root -p-> P(3):1 ==shortcut==> Q(5):100;  root -s-> S(7):2 -q-> Q
    -- A shortcut from a non-root node does not retain: Q <- S, so S retains 102 and P only 1.
    -- From the root a shortcut is a real edge: root ==shortcut==> W(9):4 -w-> V(11):6 gives V <- W.
    it("ignore shortcut edges except from the root", function()
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "P", 3, 1 }, { "object", "Q", 5, 100 },
          { "object", "S", 7, 2 }, { "object", "W", 9, 4 }, { "object", "V", 11, 6 } },
        edges = { { 1, 2, "property", "p" }, { 1, 4, "property", "s" }, { 1, 5, "shortcut", "window" },
          { 2, 3, "shortcut", "q" }, { 4, 3, "property", "q" }, { 5, 6, "property", "w" } },
      }
      assert.are.equal(1, snap:node(3).retainedSize)
      assert.are.equal(102, snap:node(7).retainedSize)
      assert.are.equal(7, snap:node(5).dominatorId)
      assert.are.equal(10, snap:node(9).retainedSize)
      assert.are.equal(9, snap:node(11).dominatorId)
    end)

    -- WeakMap: root -wm-> M(3):8 -table-> T(5):16;  T ~weak~> K, T ~weak~> V;
    --   root -key-> K(7):4;  T -"part of key ... (table @5)"-> V(9):64;  K -same name-> V
    -- The table's copy of the key->value edge is ignored, so V <- K and K retains 68; M retains 24.
    it("keep WeakMap values with their keys, not the table (names with V8's '<n> / ' prefix too)", function()
      for _, prefix in ipairs { "", "1 / ", "12 / " } do
        local ephemeron = prefix .. "part of key (K @7) -> value (V @9) pair in WeakMap (table @5)"
        local snap = load {
          nodes = { { "synthetic", "", 1, 0 }, { "object", "WeakMap", 3, 8 }, { "array", "", 5, 16 },
            { "object", "K", 7, 4 }, { "object", "V", 9, 64 } },
          edges = { { 1, 2, "property", "wm" }, { 1, 4, "property", "key" }, { 2, 3, "internal", "table" },
            { 3, 4, "weak", 1 }, { 3, 5, "weak", 2 }, { 3, 5, "internal", ephemeron },
            { 4, 5, "internal", ephemeron } },
        }
        assert.are.equal(7, snap:node(9).dominatorId, prefix)
      end
      -- a name that only looks like one (another table's id) keeps the table's edge
      local other = "1 / part of key (K @7) -> value (V @9) pair in WeakMap (table @99)"
      local snap0 = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "WeakMap", 3, 8 }, { "array", "", 5, 16 },
          { "object", "K", 7, 4 }, { "object", "V", 9, 64 } },
        edges = { { 1, 2, "property", "wm" }, { 1, 4, "property", "key" }, { 2, 3, "internal", "table" },
          { 3, 5, "internal", other }, { 4, 5, "internal", other } },
      }
      assert.are.equal(1, snap0:node(9).dominatorId)
      local ephemeron = "part of key (K @7) -> value (V @9) pair in WeakMap (table @5)"
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "WeakMap", 3, 8 }, { "array", "", 5, 16 },
          { "object", "K", 7, 4 }, { "object", "V", 9, 64 } },
        edges = { { 1, 2, "property", "wm" }, { 1, 4, "property", "key" },
          { 2, 3, "internal", "table" },
          { 3, 4, "weak", 1 }, { 3, 5, "weak", 2 }, { 3, 5, "internal", ephemeron },
          { 4, 5, "internal", ephemeron } },
      }
      assert.are.equal(7, snap:node(9).dominatorId)
      assert.are.equal(68, snap:node(7).retainedSize)
      assert.are.equal(24, snap:node(3).retainedSize)
    end)

    -- DevTools' page-owned rule: root ==shortcut==> global(3):1 -x-> O(5):100, and
    -- root -element-> "(GC roots)"(7) -element-> S(9):1 -s-> O. What the root's shortcut edges reach is
    -- page-owned (global, O); S -> O goes from outside into it and does not count, so O <- global
    -- (global retains 101) instead of O <- root.
    it("ignore edges from non-page-owned into page-owned objects", function()
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "global", 3, 1 }, { "object", "O", 5, 100 },
          { "synthetic", "(GC roots)", 7, 0 }, { "object", "S", 9, 1 } },
        edges = { { 1, 2, "shortcut", "global" }, { 1, 4, "element", 1 }, { 2, 3, "property", "x" },
          { 4, 5, "element", 1 }, { 5, 3, "property", "s" } },
      }
      assert.are.equal(3, snap:node(5).dominatorId)
      assert.are.equal(101, snap:node(3).retainedSize)
      assert.are.equal(1, snap:node(9).retainedSize)
    end)

    -- A node reached only through weak edges, with a strong child:
    -- root -a-> A(7):1 ~weak~> H(3):9 -k-> J(5):1. H hangs from the root and retains J; neither has a distance.
    it("treat weakly held nodes as children of the root", function()
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "H", 3, 9 }, { "object", "J", 5, 1 },
          { "object", "A", 7, 1 } },
        edges = { { 1, 4, "property", "a" }, { 4, 2, "weak", "h" }, { 2, 3, "property", "k" } },
      }
      assert.are.same({ 10, 1 }, { snap:node(3).retainedSize, snap:node(3).dominatorId })
      assert.are.equal(3, snap:node(5).dominatorId)
      assert.is_nil(snap:node(3).distance)
      assert.is_nil(snap:node(5).distance)
      local path, err, code = snap:retainerPath(5)
      assert.is_nil(path)
      assert.matches("not reachable", err)
      assert.are.equal("EUNREACHABLE", code)
    end)

    it("survive a 200000-deep chain (no recursion)", function()
      local n = 200000
      local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
      for i = 2, n do
        nodes[i] = { "object", "L", i * 2, 1 }
        edges[#edges + 1] = { i - 1, i, "property", "next" }
      end
      local snap = load { nodes = nodes, edges = edges }
      assert.are.equal(n - 1, snap:node(4).retainedSize)
      assert.are.equal(n - 1, snap:node(n * 2).distance)
      assert.are.equal(n - 1, #snap:retainerPath(n * 2))
    end)
  end)

  describe("distances", function()
    -- root ==shortcut==> global(3) -x-> O(5);  root -element-> "(GC roots)"(7) -element-> O2(9)
    -- User roots first: global 1, O 2; the system root and what only it reaches get 100000000 added.
    it("put system-only nodes 100000000 further, as DevTools does", function()
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "global", 3, 1 }, { "object", "O", 5, 1 },
          { "synthetic", "(GC roots)", 7, 0 }, { "object", "O2", 9, 1 } },
        edges = { { 1, 2, "shortcut", "global" }, { 1, 4, "element", 1 }, { 2, 3, "property", "x" },
          { 4, 5, "element", 1 }, { 4, 3, "element", 2 } },
      }
      assert.are.equal(1, snap:node(3).distance)
      assert.are.equal(2, snap:node(5).distance)
      assert.are.equal(100000001, snap:node(7).distance)
      assert.are.equal(100000002, snap:node(9).distance)
      local p = snap:retainerPath(9)
      assert.are.equal(2, #p)
      assert.are.equal("(GC roots)", p[1].name)
    end)
  end)

  -- DevTools' distance filter: global(3) -ctx-> "system / NativeContext"(5, hidden) -sloppy_function_map-> M(7)
  -- is not followed, so M is reached by global -a-> A(9) -b-> B(11) -m-> M at distance 4, not 3.
  -- global -descriptors-> "(map descriptors)"(13, array) -[1]-> K1(15), -[4]-> K4(17), -[5]-> K5(19):
  -- index 4 (4 % 3 == 1, a descriptor link) is skipped, so K4 comes by global -c-> C(21) -e-> E(23) -k-> K4: 4.
  it("skip the edges DevTools' distance filter skips", function()
    local snap = load {
      nodes = { { "synthetic", "", 1, 0 }, { "object", "global", 3, 1 }, { "hidden", "system / NativeContext", 5, 1 },
        { "object", "M", 7, 1 }, { "object", "A", 9, 1 }, { "object", "B", 11, 1 },
        { "array", "(map descriptors)", 13, 1 }, { "object", "K1", 15, 1 }, { "object", "K4", 17, 1 },
        { "object", "K5", 19, 1 }, { "object", "C", 21, 1 }, { "object", "E", 23, 1 } },
      edges = { { 1, 2, "shortcut", "global" },
        { 2, 3, "property", "ctx" }, { 2, 5, "property", "a" }, { 2, 7, "internal", "descriptors" },
        { 2, 11, "property", "c" },
        { 3, 4, "internal", "sloppy_function_map" }, { 5, 6, "property", "b" }, { 6, 4, "property", "m" },
        { 7, 8, "element", 1 }, { 7, 9, "element", 4 }, { 7, 10, "element", 5 },
        { 11, 12, "property", "e" }, { 12, 9, "property", "k" } },
    }
    assert.are.same({ 2, 4, 3, 4, 3 }, { snap:node(5).distance, snap:node(7).distance, snap:node(15).distance,
      snap:node(17).distance, snap:node(19).distance })
    local p = snap:retainerPath(7)
    assert.are.same({ "a", "b", "m" }, { p[2].edge, p[3].edge, p[4].edge })
    assert.are.same({ "c", "e", "k" }, { snap:retainerPath(17)[2].edge, snap:retainerPath(17)[3].edge,
      snap:retainerPath(17)[4].edge })
  end)

  describe("retainer paths", function()
    it("read from a GC root to the node, with edge names and types (G1)", function()
      local snap = load(G1)
      local p = snap:retainerPath(11)
      -- BFS from A meets B before C, so the path to E goes through B
      assert.are.equal(4, #p)
      assert.are.same({ 3, 5, 9, 11 }, { p[1].id, p[2].id, p[3].id, p[4].id })
      assert.are.same({ "b", "d", "e" }, { p[2].edge, p[3].edge, p[4].edge })
      assert.are.equal("property", p[2].edgeType)
      assert.are.equal("A @3", p[1].text)
      assert.are.equal("b (property) → B @5", p[2].text)
      local texts = {}
      for i, s in ipairs(p) do texts[i] = s.text end
      assert.are.equal("A @3 → b (property) → B @5 → d (property) → D @9 → e (property) → E @11",
        table.concat(texts, " → "))
      -- X is reached through B's strong edge, never A's weak one
      local px = snap:retainerPath(17)
      assert.are.same({ "b", "x" }, { px[2].edge, px[3].edge })
      assert.is_nil(snap:node(999))
      assert.is_nil((snap:retainerPath(999)))
    end)

    it("show element indexes in brackets", function()
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "Array", 3, 16 }, { "object", "Item", 5, 8 } },
        edges = { { 1, 2, "property", "list" }, { 2, 3, "element", 42 } },
      }
      assert.are.equal("[42] (element) → Item @5", snap:retainerPath(5)[2].text)
    end)
  end)

    it("name closures and strings, quote strings and cut long ones on a UTF-8 boundary", function()
      -- 59 ASCII bytes, then "é" across bytes 60-61: a cut at 60 bytes would split it, so 59 are kept
      local long = ("a"):rep(59) .. "\xC3\xA9z"
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "Holder", 3, 16 }, { "closure", "onTick", 5, 32 },
          { "string", long, 7, 80 }, { "string", "short", 9, 24 } },
        edges = { { 1, 2, "property", "h" }, { 2, 3, "property", "fn" }, { 3, 4, "context", "text" },
          { 2, 5, "element", 3 } },
      }
      local p = snap:retainerPath(7)
      assert.are.equal("fn (property) → Function onTick @5", p[2].text)
      local cls = snap:node(7).className
      assert.are.equal(string.format('text (context) → %s "%s..." @7', cls, ("a"):rep(59)), p[3].text)
      assert.are.equal(string.format('[3] (element) → %s "short" @9', cls), snap:retainerPath(9)[2].text)
      assert.is_nil(snap:retainerPath(999))
      assert.are.same({ nil, "no node with id 999 in this snapshot", "ERANGE" }, { snap:retainerPath(999) })
      assert.are.equal("heap snapshot (V8, 5 nodes, 4 edges)", tostring(snap))
      -- a JSC snapshot's nodes read by class alone (its names are the class names)
      assert.are.equal("Foo @4", heap.label({ className = "Foo", name = "bar", type = "closure", id = 4 }, "jsc"))
    end)

  describe("summary", function()
    -- Two Foo (one inside the other), a string, a closure, hidden and code nodes, a 0-size object.
    -- root -f1-> Foo(3):10 -inner-> Foo(5):20 -s-> "str"(7):30;  root -fn-> closure(9):40 -ctx-> hidden(11):5
    -- root -code-> code(13):6;  root -nothing-> Empty(15):0
    -- Foo: count 2, shallow 30, retained 60 (the inner Foo is inside the outer one: not counted twice).
    it("groups by DevTools' class names, without double counting nested instances", function()
      local snap = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "Foo", 3, 10 }, { "object", "Foo", 5, 20 },
          { "string", "str", 7, 30 }, { "closure", "handler", 9, 40 }, { "hidden", "system / Foo", 11, 5 },
          { "code", "fn", 13, 6 }, { "object", "Empty", 15, 0 } },
        edges = { { 1, 2, "property", "f1" }, { 2, 3, "property", "inner" }, { 3, 4, "property", "s" },
          { 1, 5, "property", "fn" }, { 5, 6, "internal", "ctx" }, { 1, 7, "internal", "code" },
          { 1, 8, "property", "nothing" } },
      }
      local rows = snap:summary()
      local s = by_name(rows)
      assert.are.same({ 2, 30, 60 }, { s.Foo.count, s.Foo.shallowSize, s.Foo.retainedSize })
      assert.are.same({ 1, 30, 30 }, { s["(string)"].count, s["(string)"].shallowSize, s["(string)"].retainedSize })
      -- DevTools: closures are "Function", and the hidden node only the closure holds gives it its size
      assert.are.same({ 1, 45, 45 }, { s.Function.count, s.Function.shallowSize, s.Function.retainedSize })
      assert.is_nil(s["(system)"])
      assert.are.equal(6, s["(compiled code)"].shallowSize)
      assert.is_nil(s.Empty, "nodes of self size 0 are skipped")
      assert.is_nil(s["(synthetic)"])
      for i = 2, #rows do assert.is_true(rows[i - 1].retainedSize >= rows[i].retainedSize) end
      assert.are.equal(2, #snap:summary { top = 2 })
      assert.are.equal("Foo", rows[1].name)
    end)

    it("keeps V8's own sizes and names when loaded raw", function()
      local snap = assert(heap.parse(fx.v8_text(fx.v8 {
        nodes = { { "synthetic", "", 1, 0 }, { "closure", "handler", 3, 40 }, { "hidden", "system / Foo", 5, 5 } },
        edges = { { 1, 2, "property", "fn" }, { 2, 3, "internal", "ctx" } },
      }), { raw = true }))
      local s = by_name(snap:summary())
      assert.are.same({ 1, 40, 45 }, { s["(closure)"].count, s["(closure)"].shallowSize, s["(closure)"].retainedSize })
      assert.are.equal(5, s["(system)"].shallowSize)
      assert.is_nil(s.Function)
    end)
  end)

  describe("top", function()
    it("lists the largest objects by retained size, root and synthetic nodes excluded (G1)", function()
      local snap = load(G1)
      local top = snap:top { n = 3 }
      assert.are.same({ 3, 9, 11 }, { top[1].id, top[2].id, top[3].id })
      assert.are.same({ 153, 90, 50 }, { top[1].retainedSize, top[2].retainedSize, top[3].retainedSize })
      assert.are.equal(10, #snap:top { n = 100 })
    end)
  end)

  describe("findLeaks", function()
    local function chain(first_id, count)
      local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
      for i = 1, count do
        nodes[i + 1] = { "object", "Thing", first_id + 2 * i, 8 }
        edges[i] = { 1, i + 1, "element", i }
      end
      return fx.file(fx.v8_text(fx.v8 { nodes = nodes, edges = edges }))
    end

    it("refuses snapshots whose node ids do not match up (not one process)", function()
      local a, c = chain(1000, 200), chain(900000, 200)
      local g, err, code = heap.findLeaks { baseline = a, target = c, final = c }
      assert.is_nil(g)
      assert.are.equal("EIDS", code)
      assert.matches("1 ids in common", err) -- the root
      -- the same ids plus new ones are fine: 50 objects made after the baseline survive
      local b = chain(1000, 250)
      local groups = assert(heap.findLeaks { baseline = a, target = b, final = b })
      assert.are.equal(1, #groups)
      assert.are.same({ "Thing", 50, 400 }, { groups[1].class, groups[1].count, groups[1].retainedSize })
    end)

    it("refuses snapshots whose shared ids name other objects (a second profiling session)", function()
      -- the same ids, but every one names an object of another class: V8 numbered afresh
      local function named(name, count)
        local nodes, edges = { { "synthetic", "", 1, 0 } }, {}
        for i = 1, count do
          nodes[i + 1] = { "object", name, 1000 + 2 * i, 8 }
          edges[i] = { 1, i + 1, "element", i }
        end
        return fx.file(fx.v8_text(fx.v8 { nodes = nodes, edges = edges }))
      end
      local a, c = named("Thing", 200), named("Other", 250)
      local g, err, code = heap.findLeaks { baseline = a, target = c, final = c }
      assert.is_nil(g)
      assert.are.equal("EIDS", code)
      assert.matches("200 of them name objects of another type or name", err)
    end)
  end)

  describe("diff", function()
    -- base: Foo@3, Foo@5, Bar@7;  current: Foo@3, Foo@9, Foo@11, Baz@13 (Bar@7 and Foo@5 gone)
    it("counts new and deleted objects per class by node id", function()
      local base = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "Foo", 3, 10 }, { "object", "Foo", 5, 11 },
          { "object", "Bar", 7, 100 } },
        edges = { { 1, 2, "property", "a" }, { 1, 3, "property", "b" }, { 1, 4, "property", "c" } },
      }
      local cur = load {
        nodes = { { "synthetic", "", 1, 0 }, { "object", "Foo", 3, 10 }, { "object", "Foo", 9, 12 },
          { "object", "Foo", 11, 13 }, { "object", "Baz", 13, 7 } },
        edges = { { 1, 2, "property", "a" }, { 1, 3, "property", "b" }, { 1, 4, "property", "c" },
          { 1, 5, "property", "d" } },
      }
      local d = by_name(cur:diff(base))
      assert.are.same({ 2, 1, 1, 25, 11, 14 }, { d.Foo.new, d.Foo.deleted, d.Foo.delta, d.Foo.allocSize,
        d.Foo.freedSize, d.Foo.sizeDelta })
      assert.are.same({ 0, 1, -1, 0, 100, -100 }, { d.Bar.new, d.Bar.deleted, d.Bar.delta, d.Bar.allocSize,
        d.Bar.freedSize, d.Bar.sizeDelta })
      assert.are.same({ 1, 0, 7 }, { d.Baz.new, d.Baz.deleted, d.Baz.allocSize })
      assert.are.equal(0, #base:diff(base))
    end)
  end)
end)
