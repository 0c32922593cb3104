"""One home per vendor: each platform's client factory, error facts and rate-limit headers.

A platform is read by its source (`listener.sources.<platform>`), swept for deletions
(`listener.deletions`) and written to by its publisher (`responders.publishers.<platform>`).
Those live in two packages that may not import each other, so what they share about the
vendor lives here, one module per platform, in a layer that imports only `socialear`:

    http.py      the one HTTP error policy (which statuses are retryable) and the
                 Retry-After / rate-limit reset parsing every HTTP caller uses
    x.py         tweepy clients (app-only bearer for reading, OAuth 1.0a user context
                 for posting), each with a timeout on every request
    reddit.py    praw clients (read-only app, script account), prawcore's own retries off
    facebook.py  the Graph API: its base URL, throttle codes, usage headers, appsecret_proof
"""
