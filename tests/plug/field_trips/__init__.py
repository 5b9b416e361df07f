"""A producer that exists only in the test suite: school field trips. It is built the way a
real producer is (its topic, payload, templates and strings in its own package) to show
that the notification engine carries a topic it has never heard of."""
