"""Email: the chases and updates that leave the war room, and the replies that come back into it."""
