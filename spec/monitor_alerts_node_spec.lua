-- memdbg monitor's alert rules and its OpenMetrics output (issue 14) against
-- one real Node app, healthy first and then leaking: the heap-limit rule
-- (the runtime's limit, or --limit), the trend after forced GCs (--gc-every),
-- which rule fired, and the exposition checked by prometheus_client's parsers
-- (the OpenMetrics one is the format's reference parser) and fetched with curl.
local node = require("support.node")
local run = require("support.run")
local json = require("cjson")

local q = run.quote
-- Debian's python3 with python3-prometheus-client (tools/install-deps.sh)
local PY = "env -u LD_PRELOAD /usr/bin/python3"
local has_parser = os.execute(PY .. " -c 'import prometheus_client.openmetrics.parser' 2>/dev/null")
has_parser = has_parser == true or has_parser == 0
local parsed_it = has_parser and it or pending
local why = has_parser and "" or "python3-prometheus-client not installed: "

-- The same allocation rate either way: 2500-element arrays every 20 ms (about
-- 1 MB/s), dropped while healthy, kept once startLeak() was called.
local APP = [[
globalThis.kept = []; let leaking = false; let last = null;
setInterval(() => { const a = new Array(2500).fill(Math.random()); if (leaking) kept.push(a); else last = a; }, 20);
globalThis.startLeak = () => { leaking = true; return 1; };
console.log('ready');
]]

-- Parses exposition text with prometheus_client: "openmetrics" or "prometheus"
-- (0.0.4). Returns {family = {type=, unit=, samples = {{name, labels, value}}}}
-- or nil, the parser's error.
local function parse(text, format)
  local f = os.tmpname()
  local h = assert(io.open(f, "w"))
  h:write(text)
  h:close()
  local mod = format == "openmetrics" and "prometheus_client.openmetrics.parser" or "prometheus_client.parser"
  local script = "import sys, json, importlib\n"
    .. "p = importlib.import_module('" .. mod .. "')\n"
    .. "out = {}\n"
    .. "for f in p.text_string_to_metric_families(open(sys.argv[1]).read()):\n"
    .. "  out[f.name] = {'type': f.type, 'unit': getattr(f, 'unit', ''),\n"
    .. "    'samples': [[s.name, s.labels, s.value] for s in f.samples]}\n"
    .. "print(json.dumps(out))\n"
  local p = io.popen(PY .. " -c " .. q(script) .. " " .. q(f) .. " 2>&1")
  local out = p:read("*a")
  p:close()
  os.remove(f)
  local ok, doc = pcall(json.decode, out)
  if not ok then return nil, out end
  return doc
end

local function curl(url, accept)
  local p = io.popen("env -u LD_PRELOAD curl -s -i --max-time 5 " .. (accept and ("-H " .. q("Accept: " .. accept) .. " ") or "")
    .. q(url))
  local out = p:read("*a")
  p:close()
  local head, body = out:match("^(.-)\r\n\r\n(.*)$")
  return head or out, body or ""
end

describe("monitor: alert rules and OpenMetrics (one Node app, healthy then leaking)", function()
  local app, dir

  setup(function()
    app = node.start { source = APP, ready = "ready" }
    dir = run.tmpdir()
  end)
  teardown(function()
    node.stop(app)
    run.rm(dir)
  end)

  it("a healthy process raises no alert: the limit rule uses the runtime's heap limit, not used/total", function()
    local csv = dir .. "/healthy.csv"
    local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0.2", "--count", "6",
      "--gc-every", "1", "--trend-min", "262144", "--csv", csv, timeout = 60 }
    assert.equal(0, code, out .. err)
    assert.not_matches("ALERT", err)
    assert.matches("6 samples, 0 gaps, peak [%d.]+ [KMG]?i?B, 0 alerts", out)
    -- the limit is V8's heap_size_limit, as a separate node process reports it
    local p = io.popen("env -u LD_PRELOAD node -e 'console.log(require(\"v8\").getHeapStatistics().heap_size_limit)'")
    local expected = tonumber(p:read("*l"))
    p:close()
    local rows = {}
    for line in run.slurp(csv):gmatch("[^\n]+") do rows[#rows + 1] = line end
    assert.equal("seconds,unix_time,used_bytes,total_bytes,ratio,limit_bytes,after_gc,alert", rows[1])
    assert.equal(7, #rows)
    for i = 2, 7 do
      local used, total, limit, gc, alert = rows[i]:match("^[%d.]+,%d+,(%d+),(%d+),[%d.]+,(%d+),([01]),(.*)$")
      assert.truthy(used, rows[i])
      assert.equal(expected, tonumber(limit))
      assert.is_true(tonumber(used) <= tonumber(total))
      assert.equal("1", gc)
      assert.equal("", alert)
    end
  end)

  it("--limit BYTES gives the limit; the alert names the rule", function()
    local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0", "--count", "3",
      "--limit", "1048576", "--json", timeout = 60 }
    assert.equal(1, code, out .. err)
    assert.matches("ALERT %(limit%): heap [%d.]+ MiB is %d+%% of its 1%.0 MiB limit %(threshold 90%%%)", err)
    local doc = json.decode(out)
    assert.equal(1048576, doc.limit)
    assert.equal(1, doc.alertsByRule.limit)
    assert.equal("limit", doc.samples[1].alert)
    assert.is_nil(doc.samples[2].alert) -- once per crossing
  end)

  it("a leaking process: the trend after forced GCs fires, named, and exits 1", function()
    local s = assert(require("memdbg").connect { endpoint = app.endpoint })
    assert.equal(1, s.memory:evaluate("startLeak()"))
    s:close()
    local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0.3", "--count", "8",
      "--gc-every", "1", "--trend-min", "262144", "--json", timeout = 60 }
    assert.equal(1, code, out .. err)
    assert.matches("ALERT %(trend%): after GC the heap grew at each of the last 3 forced GCs", err)
    local doc = json.decode(out)
    assert.equal(1, doc.alertsByRule.trend)
    assert.is_nil(doc.alertsByRule.limit)
    local fired
    for i, x in ipairs(doc.samples) do
      assert.is_true(x.gc)
      if x.alert then fired = i end
    end
    assert.equal("trend", doc.samples[fired].alert)
    assert.is_true(fired >= 4) -- three growths need four samples after GC
  end)

  parsed_it(why .. "--openmetrics HOST:PORT serves the latest sample on loopback, OpenMetrics or 0.0.4 by Accept, "
    .. "until stopped",
    function()
      local h = run.start { "monitor", "--endpoint", app.endpoint, "--interval", "0.1",
        "--gc-every", "5", "--openmetrics", "127.0.0.1:0" }
      local url
      for _ = 1, 200 do
        url = (run.slurp(h.base .. ".err") or ""):match("OpenMetrics at (http://127%.0%.0%.1:%d+/metrics)")
        if url and (run.slurp(h.base .. ".out") or ""):match("after GC") then break end
        os.execute("sleep 0.05")
      end
      assert.truthy(url, run.slurp(h.base .. ".err"))
      local head, body = curl(url, "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
      assert.matches("^HTTP/1%.1 200", head)
      assert.matches("Content%-Type: application/openmetrics%-text; version=1%.0%.0", head)
      assert.matches("# EOF\n$", body)
      local doc = assert(parse(body, "openmetrics"))
      local used = doc.memdbg_heap_used_bytes
      assert.equal("gauge", used.type)
      assert.equal("bytes", used.unit)
      local labels = used.samples[1][2]
      assert.equal("node", labels.runtime)
      assert.equal("127.0.0.1:" .. app.port, labels.endpoint)
      assert.truthy(labels.target and labels.target ~= "")
      assert.is_true(used.samples[1][3] > 0)
      assert.equal("counter", doc.memdbg_samples.type)
      assert.equal("memdbg_samples_total", doc.memdbg_samples.samples[1][1])
      assert.is_true(doc.memdbg_samples.samples[1][3] >= 1)
      assert.is_true(doc.memdbg_heap_limit_bytes.samples[1][3] > used.samples[1][3])
      assert.is_true(doc.memdbg_heap_used_after_gc_bytes.samples[1][3] > 0)
      local rules = {}
      for _, x in ipairs(doc.memdbg_alerts.samples) do rules[#rules + 1] = x[2].rule end
      assert.same({ "limit", "trend" }, rules)
      -- a scraper that does not ask for OpenMetrics (curl's */*) gets the 0.0.4 text format
      head, body = curl(url)
      assert.matches("Content%-Type: text/plain; version=0%.0%.4", head)
      assert.not_matches("# EOF", body)
      assert.matches("# TYPE memdbg_samples_total counter", body)
      assert(parse(body, "prometheus").memdbg_heap_used_bytes)
      head = curl(url:gsub("/metrics$", "/other"))
      assert.matches("^HTTP/1%.1 404", head)
      -- without --count or --duration an exporter runs until stopped
      run.signal(h, "TERM")
      local code, _, err = run.wait(h, 30)
      assert.equal(143, code, err)
      assert.matches("stopped by SIGTERM", err)
      assert.equal("", (curl(url))) -- the endpoint went with the run
    end)

  parsed_it(why .. "--openmetrics alone prints the series with timestamps: one valid OpenMetrics document", function()
    local code, out, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--interval", "0.05", "--count", "4",
      "--gc-every", "2", "--openmetrics", timeout = 60 }
    assert.is_true(code == 0 or code == 1, err)
    assert.matches("4 samples", err) -- the report goes to stderr, the document to stdout
    local doc = assert(parse(out, "openmetrics"))
    assert.equal(4, #doc.memdbg_heap_used_bytes.samples)
    assert.equal(2, #doc.memdbg_heap_used_after_gc_bytes.samples)
    assert.equal(4, doc.memdbg_samples.samples[4][3])
    local stamps = {}
    for ts in out:gmatch("memdbg_heap_used_bytes{[^}]*} %d+ ([%d.]+)\n") do stamps[#stamps + 1] = tonumber(ts) end
    assert.equal(4, #stamps)
    for i = 2, 4 do assert.is_true(stamps[i] > stamps[i - 1]) end
  end)

  it("--openmetrics on a non-loopback address needs --allow-remote (exit 2); a bad address is exit 2", function()
    local code, _, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--openmetrics", "192.0.2.1:9464" }
    assert.equal(2, code)
    assert.matches("not a loopback address: add %-%-allow%-remote", err)
    code, _, err = run.memdbg { "monitor", "--endpoint", app.endpoint, "--openmetrics", "example.org:9464" }
    assert.equal(2, code)
    assert.matches("takes an address", err)
    code = run.memdbg { "monitor", "--endpoint", app.endpoint, "--openmetrics", "--json" }
    assert.equal(2, code)
  end)
end)
