"""Security building blocks: headers, passwords, sessions, CSRF, two factors, throttling."""
