"""Following a build: the log follower, runner markers, signals, the outcome."""
