"""Session runtimes: one module per kind of session (``terminal``, ``pipes``, ``conversation``,
``imported``), each implementing the small interface in ``base``."""
