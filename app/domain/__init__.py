"""The registry's vocabulary: who may act (``access``), the words the rules are written in
(``vocabulary``, ``outcome``) and how names are compared (``names``).

Every layer imports from here and this package imports from none of them: no FastAPI,
Starlette, SQLAlchemy or Pydantic, and no ``app.*`` module outside ``app.domain``. The
import-linter contract ``domain-pure`` in pyproject.toml enforces it (#16).
"""
