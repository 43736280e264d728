"""The notifier: emails the parties of a delivery on each of its events, once each."""
