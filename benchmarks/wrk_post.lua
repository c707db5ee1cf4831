-- wrk script for the HTTP benchmarks: POST one JSON body on every request.
--   wrk ... --script benchmarks/wrk_post.lua URL -- BODY_FILE
-- The body is read once per thread from BODY_FILE; when the run is done, the
-- figures are printed as one JSON line, read by benchmarks/wrk_load.py.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
   local file = assert(io.open(args[1], "rb"))
   wrk.body = file:read("*a")
   file:close()
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, '
         .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
         .. '"status_errors": %d, "timeouts": %d}\n',
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99),
      errors.connect, errors.read, errors.write, errors.status, errors.timeout
   ))
end
