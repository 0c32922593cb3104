"""The web console: FastAPI + Jinja2 + htmx, served from the package (no CDN).

`create_app(engine, rules, ...)` in `console.web.app` builds the ASGI app; the service
runner serves it with uvicorn.
"""

from console.web.app import create_app

__all__ = ["create_app"]
