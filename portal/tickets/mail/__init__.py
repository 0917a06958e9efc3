"""Email intake: mail fetched over IMAP or received by the SMTP/LMTP listener becomes tickets.

`intake.receive` is the one entry point both transports call; parsing and classifying a
message never touch the database, so they can be tested on their own.
"""
