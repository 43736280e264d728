"""The timer worker: turns deadlines that fall due into ``expire_deadline`` commands."""
