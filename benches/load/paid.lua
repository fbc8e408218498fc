-- wrk script of the paid runs: every request carries the next pre-signed PAYMENT-SIGNATURE.
--
-- wrk -s paid.lua <url> -- <payments file> <wrk threads>
--
-- The payments file has one header value per line (`load-server sign`). Each wrk thread takes
-- every n-th line (its own share, so no two threads send the same payment). A thread that has
-- used up its share starts again from its first payment: the replay guard then refuses the
-- repeats with 402s, which wrk counts as "Non-2xx or 3xx responses" and run.sh reports.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, count = args[1], tonumber(args[2])
  payments = {}
  local line_number = 0
  for line in io.lines(file) do
    if line_number % count == id then
      payments[#payments + 1] = line
    end
    line_number = line_number + 1
  end
  if #payments == 0 then
    error("no payments for thread " .. id .. " in " .. file)
  end
  sent = 0
end

function request()
  sent = sent + 1
  local payment = payments[(sent - 1) % #payments + 1]
  return wrk.format("GET", nil, { ["PAYMENT-SIGNATURE"] = payment })
end
