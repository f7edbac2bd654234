"""The HTTP layer, one blueprint per partner channel. Views parse, call one domain function and render."""
