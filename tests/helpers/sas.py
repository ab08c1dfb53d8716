"""Emoji verification as the operator sees it on the host."""

# Seven emojis with their names, as a verification offers them to compare.
EMOJI = [
    ("🐶", "Dog"),
    ("🐱", "Cat"),
    ("🦁", "Lion"),
    ("🐎", "Horse"),
    ("🦄", "Unicorn"),
    ("🐷", "Pig"),
    ("🐘", "Elephant"),
]
