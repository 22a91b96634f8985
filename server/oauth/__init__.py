"""OAuth 2.0 / OpenID Connect authorization server (Authlib) and the token guard."""
