"""Run the web chat on the default configuration: update the index from corpus/ if needed, then serve.

    python app.py [--profile NAME] [--host H] [--port P]

Everything is local: the packaged embedding and chat models, and an embedded Chroma folder.
"""

import sys

from hubchat.cli import app

if __name__ == "__main__":
    app(["serve", *sys.argv[1:]], prog_name="app.py")
