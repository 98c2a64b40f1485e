-- wrangler dev, for real: see spec/support/worker_suite.lua.
require("support.worker_suite").define("wrangler", {
  describe = describe, it = it, setup = setup, teardown = teardown, pending = pending, assert = assert,
})
