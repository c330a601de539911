"""Who may call the inference API: users with passwords, API keys for services, roles.

- :mod:`.principals`: the roles (``user`` forecasts; ``admin`` also reloads, retrains and
  reads the prediction log) and the :class:`~.principals.Principal` a request acts as.
- :mod:`.passwords`: argon2id hashes (pwdlib).
- :mod:`.tokens`: expiring JSON Web Tokens (PyJWT, HS256) and their signing key.
- :mod:`.api_keys`: high-entropy keys, stored as SHA-256 hashes.
- :mod:`.store`: users and keys in the store database (tables of migration 0003).
"""

from hourcast.auth.principals import ROLES, Principal, Role

__all__ = ["ROLES", "Principal", "Role"]
