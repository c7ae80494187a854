"""One app replica for the multi-process tests: the real app (create_app) with the test profile's fakes,
served by uvicorn on a port, writing its events to the store it is given.

    python -m tests.app.replica --data-dir DIR --store-url URL --port PORT
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from app import create_app
from tests.app.support import make_advisor, web_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = web_settings(args.data_dir, store_url=args.store_url, max_queue=8)
    # SIGTERM stops uvicorn gracefully: the app's shutdown writes the events still queued.
    uvicorn.run(create_app(settings, advisor=make_advisor(settings)), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
