-- Runtime-internal groups (workflows/leak_noise.lua) by the rule that names
-- them, from groups as `memdbg leaks --json` reports them.
local noise = require("memdbg.workflows.leak_noise")

describe("leak_noise.why", function()
  it("names Node's native bookkeeping held by its Environment (seen growing one a round under ASan)", function()
    local g = { class = "Node / CleanupQueue", retainerPath = {
      "(synthetic) Node / Environment @1019812576",
      "principal_realm (internal) → Node / PrincipalRealm @1019686368",
      "cleanup_queue (internal) → Node / CleanupQueue @1003652640" } }
    assert.matches("Node's own native bookkeeping", noise.why(g))
  end)

  it("leaves a program's group reached from the global object alone", function()
    local g = { class = "Order", retainerPath = { "global /  @6045",
      "auditLog (context) → Array @70247", "[420] (element) → Order @100533" } }
    assert.is_nil(noise.why(g))
  end)
end)
