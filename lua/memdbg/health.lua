-- :checkhealth memdbg (Neovim looks for lua/memdbg/health.lua); the checks are memdbg.nvim.health.
return require("memdbg.nvim.health")
