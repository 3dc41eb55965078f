"""tidy: sort the files of a directory into sub-folders by kind."""

__version__ = "0.3.0"
