"""The customer's voice: everything addressed to the customer is built here, from customer fields only.

`bot.voice.compose` is the surface the desks use (drafts, bad-news sentences, email subjects, the guard's verdict);
`templates`, `language` and `guard` are its parts and are not imported from outside this package (lint-imports).
"""
