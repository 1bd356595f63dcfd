-- Drives ckptlens' language server from a real editor: headless Neovim's built-in LSP client.
-- Reads a plan (JSON, path in $CKPTLENS_NVIM_PLAN), performs its steps on one file and writes
-- what the editor saw to plan.out (JSON). Run: nvim --headless --clean -u NONE -l? (0.7: -c "luafile drive.lua")
local plan = vim.fn.json_decode(table.concat(vim.fn.readfile(vim.env.CKPTLENS_NVIM_PLAN), "\n"))
local report = { steps = {} }

local function finish(err)
  report.error = err
  vim.fn.writefile({ vim.fn.json_encode(report) }, plan.out)
  vim.cmd("qall!")
end

local ok, err = pcall(function()
  local publishes, published_version = 0, nil
  local default = vim.lsp.handlers["textDocument/publishDiagnostics"]
  vim.lsp.handlers["textDocument/publishDiagnostics"] = function(e, result, ctx, config)
    publishes = publishes + 1
    published_version = result and result.version
    return default(e, result, ctx, config)
  end

  local client_id = vim.lsp.start_client({
    name = "ckptlens",
    cmd = plan.cmd,
    root_dir = plan.root,
    cmd_env = plan.env,
  })
  assert(client_id, "the server did not start")
  vim.cmd("edit " .. vim.fn.fnameescape(plan.file))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)

  local function diagnostics()
    local out = {}
    for _, d in ipairs(vim.diagnostic.get(bufnr)) do
      if d.source == "ckptlens" then
        table.insert(out, {
          lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
          code = d.code, message = d.message, severity = d.severity,
        })
      end
    end
    table.sort(out, function(a, b)
      if a.lnum ~= b.lnum then return a.lnum < b.lnum end
      return tostring(a.code) < tostring(b.code)
    end)
    return out
  end

  -- The diagnostics of the buffer as it is now: wait for the publish that carries the buffer's
  -- current version (the server publishes each version it analysed, with that version).
  local function wait_publish(timeout)
    return vim.wait(timeout or 30000, function()
      return publishes > 0 and published_version == vim.lsp.util.buf_versions[bufnr]
    end, 20)
  end

  for _, step in ipairs(plan.steps) do
    if step.action == "wait_diagnostics" then
      local got = wait_publish(step.timeout)
      table.insert(report.steps, {
        action = step.action, published = got, version = published_version, diagnostics = diagnostics(),
      })
    elseif step.action == "code_action" then
      local target
      for _, d in ipairs(vim.diagnostic.get(bufnr)) do
        if d.source == "ckptlens" and d.code == step.code then target = d break end
      end
      assert(target, "no diagnostic with code " .. step.code)
      local lsp_diag = {
        range = {
          start = { line = target.lnum, character = target.col },
          ["end"] = { line = target.end_lnum, character = target.end_col },
        },
        severity = target.severity, message = target.message, source = target.source, code = target.code,
      }
      local params = {
        textDocument = { uri = vim.uri_from_bufnr(bufnr) },
        range = lsp_diag.range,
        context = { diagnostics = { lsp_diag } },
      }
      local response = client.request_sync("textDocument/codeAction", params, 30000, bufnr)
      assert(response and not response.err, "codeAction failed: " .. vim.inspect(response))
      local titles, chosen = {}, nil
      for _, action in ipairs(response.result or {}) do
        table.insert(titles, action.title)
        if not chosen and string.find(action.title, step.title_contains, 1, true) then chosen = action end
      end
      assert(chosen, "no action titled like '" .. step.title_contains .. "' in " .. vim.inspect(titles))
      if chosen.edit then
        vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
      end
      if chosen.command then
        local cmd = chosen.command
        if type(cmd) == "table" then
          client.request_sync("workspace/executeCommand", cmd, 30000, bufnr)
        end
      end
      table.insert(report.steps, {
        action = step.action, titles = titles, chosen = chosen.title,
        text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n"),
      })
    elseif step.action == "save" then
      vim.cmd("write")
      table.insert(report.steps, { action = step.action })
    end
  end
  vim.lsp.stop_client(client_id)
end)
finish(ok and vim.NIL or tostring(err))
