"""Thin Azure Functions adapters: decode the trigger, call the core in ``shared``, let typed
errors propagate. One Blueprint per trigger."""
