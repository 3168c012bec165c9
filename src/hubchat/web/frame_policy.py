"""Who may put the app's pages in a frame: the widget's pages the configured sites, every other page nobody else.

An ASGI middleware (not a route decorator) so that every response gets the header, Gradio's and the API's too,
streamed ones included. Browsers enforce `Content-Security-Policy: frame-ancestors`; `X-Frame-Options` is sent
beside it on the pages no site may frame, for browsers that predate frame-ancestors.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EMBEDDABLE_PREFIX = "/widget/"


class FramePolicy:
    """Adds the frame headers to every HTTP response of `app`.

    Args:
        app: the wrapped ASGI app.
        embed_origins: origins whose pages may frame the paths under `/widget/`.
    """

    def __init__(self, app: ASGIApp, embed_origins: Sequence[str]):
        self.app = app
        self.widget_policy = " ".join(["frame-ancestors 'self'", *embed_origins])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        embeddable = scope.get("path", "").startswith(EMBEDDABLE_PREFIX)

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if embeddable:
                    headers.append("Content-Security-Policy", self.widget_policy)
                else:
                    headers.append("Content-Security-Policy", "frame-ancestors 'self'")
                    headers["X-Frame-Options"] = "SAMEORIGIN"
            await send(message)

        await self.app(scope, receive, send_with_policy)
