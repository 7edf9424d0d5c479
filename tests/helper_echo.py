"""Work for test_helper's helpers: answers with its payload, logging a warning first."""
import logging


def echo(payload):
    logging.getLogger("feedsvc.render").warning("noted %s", payload)
    return payload


def fail(payload):
    raise RuntimeError(f"cannot do {payload!r}")
