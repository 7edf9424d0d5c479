"""A helper for test_helper: answers with its payload, logging a warning first."""
import logging

from feedsvc import helper


def _echo(payload):
    logging.getLogger("feedsvc.render").warning("noted %s", payload)
    return payload


if __name__ == "__main__":
    helper.serve(_echo)
