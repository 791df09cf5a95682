-- wrk script for the floors (Hummingbird hello world, nginx): the same POST shape as a
-- heartbeat, with an empty body.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/post.lua http://127.0.0.1:PORT/hello
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer bench"
