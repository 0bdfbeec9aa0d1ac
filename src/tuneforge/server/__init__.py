"""The dashboard and HTTP JSON API (``tuneforge serve``): FastAPI over the storage.

It reads and writes only through :class:`~tuneforge.storage.Storage`, so it shows and
steers jobs run by any process (or any machine, with PostgreSQL), live. See
:func:`create_app` and, for the security rules, :mod:`tuneforge.server.security`.
"""

from tuneforge.server.app import create_app, new_token
from tuneforge.server.security import is_loopback

__all__ = ["create_app", "is_loopback", "new_token"]
