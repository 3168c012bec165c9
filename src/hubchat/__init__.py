"""hubchat: a chat assistant that answers only from a site's articles, with checked citations."""

__version__ = "0.1.0"
