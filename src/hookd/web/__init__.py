"""The HTTP side of hookd: the Starlette app, the receiver and the operating endpoints."""
