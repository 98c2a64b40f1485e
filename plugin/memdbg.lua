-- luacheck: globals vim
-- memdbg's user commands (:help memdbg-commands); the work is in
-- lua/memdbg/nvim/. Loaded from runtimepath; nothing here touches the
-- runtime until a command runs.
if vim.g.loaded_memdbg then return end
if vim.fn.has("nvim-0.7") ~= 1 then
  vim.api.nvim_echo({ { "memdbg needs Neovim 0.7 or later", "WarningMsg" } }, true, {})
  return
end
vim.g.loaded_memdbg = 1

require("memdbg.nvim.commands").define()

-- Quitting mid-snapshot: cancel, so no .partial file or analysis job is left
-- behind, and give a snapshot in flight up to g:memdbg_drain_ms (setup's
-- drainMs, 10000) to finish draining: Node 20 can crash when its client
-- vanishes mid-snapshot. Past that the session closes anyway and the partial
-- file goes.
vim.api.nvim_create_autocmd("VimLeavePre", {
  group = vim.api.nvim_create_augroup("memdbg", { clear = true }),
  callback = function()
    local mn = package.loaded["memdbg.nvim"]
    if not mn then return end
    mn.cancel_all()
    local ms = tonumber(vim.g.memdbg_drain_ms) or require("memdbg.nvim.config").get().drainMs
    -- past that, close anyway (with the handshake) so no .partial stays behind
    if not mn.wait_drained(ms) then mn.abandon_draining() end
  end,
})
