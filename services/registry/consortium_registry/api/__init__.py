"""HTTP edge of the registry: thin routes over the logic modules, errors as problem+json."""
