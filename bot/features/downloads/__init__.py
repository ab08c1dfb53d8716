"""Runbooks of kind `download`: a program writes files into a directory of its run, the bot
shows its progress, and hands the files to the person who asked (an encrypted upload, or a link
only they can use)."""
