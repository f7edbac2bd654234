"""Local fake partners for the tests: HTTP servers on 127.0.0.1 serving the partners' documented payloads."""
