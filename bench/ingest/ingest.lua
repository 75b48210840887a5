-- bench/ingest/ingest.lua - the wrk script of the ingest benchmark.
--
--   wrk -t2 -c32 -d30s -s ingest.lua http://127.0.0.1:PORT -- \
--       BODIES_FILE PATH AUTHORIZATION RUN_ID
--
-- Every thread loads BODIES_FILE (one request body a line, made by
-- gen_bodies.awk) and POSTs them to PATH in turn, each thread from its own
-- offset, with keep-alive and the given Authorization header.  The token
-- XRUNX in a body (inside every messageId / source_message_id /
-- source_request_id) is replaced by a prefix unique to the request, so a
-- rotation through the bodies never repeats an id.  done() prints one
-- machine-readable line (latencies in microseconds).

local threads = {}

function setup(thread)
	thread:set("tid", #threads + 1)
	table.insert(threads, thread)
end

function init(args)
	bodies = {}
	local f = assert(io.open(args[1], "rb"))
	-- each body split at its XRUNX tokens: table.concat(parts, id) puts
	-- the request's id back in without scanning the body again
	for line in f:lines() do
		if #line > 0 then
			local parts, pos = {}, 1
			while true do
				local s, e = string.find(line, "XRUNX", pos, true)
				if not s then break end
				parts[#parts + 1] = string.sub(line, pos, s - 1)
				pos = e + 1
			end
			parts[#parts + 1] = string.sub(line, pos)
			bodies[#bodies + 1] = parts
		end
	end
	f:close()
	nbodies = #bodies
	assert(nbodies > 0, "no bodies in " .. args[1])
	path = args[2]
	headers = { ["Content-Type"] = "application/json", ["Authorization"] = args[3] }
	prefix = (args[4] or "r") .. "t" .. tid .. "n"
	idx = (tid * 7919) % nbodies
	counter = 0
end

function request()
	idx = idx % nbodies + 1
	counter = counter + 1
	local body = table.concat(bodies[idx], prefix .. counter)
	return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"wrk: requests=%d duration_us=%d bytes=%d status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
		summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
		e.write, e.timeout, latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.max))
end
