"""Each school's subjects: the code grades, lessons and homework store, and its name per
language for everything a person reads."""
