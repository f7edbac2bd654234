-- GET /healthz: the framework's ceiling (no database).
wrk.method = "GET"
wrk.path = "/healthz"
