"""FacebookReplyPublisher: an approved reply posted as the Page, under the right comment,
never twice.

Where the reply goes (the reply target the `facebook` source records): Facebook threads
comments two levels deep, so a reply to a top-level comment or to a visitor's post goes
on that object's `/comments` edge, and a reply to a reply goes under its top-level
comment. The job carries the mention's id; `GET /{id}?fields=parent{id}` says whether it
is a reply (then its parent is the target). `POST /{target}/comments` with `message`,
with the Page access token (FACEBOOK_PAGE_ACCESS_TOKEN, needs `pages_manage_engagement`),
posts as the Page.

Never twice: the Graph API takes no idempotency key. On a retry (`attempt > 1`) or after
an ambiguous failure (timeout, 5xx after the POST may have been acted on) the publisher
first reads the target's newest comments and treats one by the Page with the same text as
delivered.

Errors: code 190 -> BadCredentials (token); 10 / 200-299 -> BadCredentials (missing
`pages_manage_engagement`); 4, 17, 32, 613, 80001, 368 -> RateLimited (the business use
case's estimate, else 15 min); 100 with subcode 33 -> PermanentError (the comment or post
is gone); other 4xx -> PermanentError; 5xx, timeouts, network -> RetryableError, marked
ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from platforms.facebook import ENV as FACEBOOK_ENV
from platforms.facebook import GRAPH, THROTTLE_CODES, usage_from_headers
from responders.publishers import ReplyJob, same_reply
from responders.types import DeliveryResult
from socialear.errors import BadCredentials, PermanentError, RateLimited, RetryableError

TIMEOUT_S = 15.0
DEFAULT_LAG_S = 5.0
THROTTLE_WAIT_S = 900.0



class FacebookReplyPublisher:
    """Replies on a Facebook Page as the Page."""

    type: ClassVar[str] = "facebook"
    needs: ClassVar[tuple[str, ...]] = FACEBOOK_ENV

    def __init__(self, name: str, client: httpx.Client, token: str, *, graph_version: str = "v21.0"):
        self.name = name
        self.client = client
        self.token = token
        self.base = f"{GRAPH}/{graph_version}"
        self.lag_s = DEFAULT_LAG_S
        self._page_id: str | None = None
        self._ambiguous: set[str] = set()

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str], client: Any = None) -> FacebookReplyPublisher:
        token = env.get("FACEBOOK_PAGE_ACCESS_TOKEN") or ""
        return cls(name, client if client is not None else httpx.Client(timeout=TIMEOUT_S), token)

    def post(self, job: ReplyJob, *, attempt: int = 1) -> DeliveryResult:
        """Post `job.text` under the mention's reply target once; look first on a retry."""
        target = self.target(job.in_reply_to)
        if attempt > 1 or job.key in self._ambiguous:
            found = self.find(target, job.text)
            if found is not None:
                self._ambiguous.discard(job.key)
                return found
        try:
            body = self._call("POST", f"{target}/comments", data={"message": job.text})
        except RetryableError:
            self._ambiguous.add(job.key)
            raise
        self._ambiguous.discard(job.key)
        ref = str(body.get("id") or "")
        if not ref:
            self._ambiguous.add(job.key)
            raise RetryableError("Facebook accepted the reply but returned no id; the retry looks it up", self.lag_s)
        return DeliveryResult(external_ref=ref, url=f"https://www.facebook.com/{ref}", created=True)

    def target(self, mention_id: str) -> str:
        """The object whose /comments edge takes the reply (a reply's top-level comment)."""
        body = self._call("GET", mention_id, params={"fields": "id,parent{id}"})
        parent = (body.get("parent") or {}).get("id")
        return str(parent) if parent else mention_id

    def page_id(self) -> str:
        if self._page_id is None:
            self._page_id = str(self._call("GET", "me", params={"fields": "id"})["id"])
        return self._page_id

    def find(self, target: str, text: str) -> DeliveryResult | None:
        """Our Page's comment under `target` with `text`, if an earlier attempt posted it."""
        page = self.page_id()
        body = self._call(
            "GET",
            f"{target}/comments",
            params={
                "filter": "stream",
                "order": "reverse_chronological",
                "fields": "id,message,from{id}",
                "limit": 100,
            },
        )
        for comment in body.get("data") or []:
            if (comment.get("from") or {}).get("id") == page and same_reply(text, str(comment.get("message") or "")):
                ref = str(comment["id"])
                return DeliveryResult(external_ref=ref, url=f"https://www.facebook.com/{ref}", created=False)
        return None

    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        what = f"{method} /{path}"
        try:
            response = self.client.request(
                method,
                f"{self.base}/{path}",
                params=params,
                data=data,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=TIMEOUT_S,
            )
        except httpx.TimeoutException as exc:
            raise RetryableError(f"Facebook timed out on {what}; the retry looks first", self.lag_s) from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"Facebook network error on {what}: {exc}", self.lag_s) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code < 400 and isinstance(body, dict) and "error" not in body:
            return body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code, subcode = error.get("code"), error.get("error_subcode")
        message = str(error.get("message") or response.text[:200])
        if code in THROTTLE_CODES or code == 368:
            _, regain = usage_from_headers(response.headers)
            wait = regain * 60 if regain else THROTTLE_WAIT_S
            return_error: Exception = RateLimited(f"Facebook rate limit (code {code}) on {what}: {message}", wait)
        elif code == 190:
            return_error = BadCredentials(f"FACEBOOK_PAGE_ACCESS_TOKEN was rejected (code 190) on {what}: {message}")
        elif code == 10 or (isinstance(code, int) and 200 <= code <= 299):
            return_error = BadCredentials(
                f"FACEBOOK_PAGE_ACCESS_TOKEN lacks a permission (code {code}) on {what}: {message}; replying as the "
                "Page needs pages_manage_engagement"
            )
        elif code == 100 and subcode == 33:
            return_error = PermanentError(f"Facebook: the comment or post is gone ({what}): {message}")
        elif response.status_code >= 500 or code in (1, 2):
            return_error = RetryableError(f"Facebook server error {response.status_code} on {what}", self.lag_s)
        else:
            return_error = PermanentError(f"Facebook refused {what} ({response.status_code}, code {code}): {message}")
        raise return_error
