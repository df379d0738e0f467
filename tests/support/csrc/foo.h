/* libfoo: a shared library with its install prefix compiled in. */
#ifndef FOO_H
#define FOO_H

/* The data directory compiled into libfoo: PREFIX "/share/foo". */
const char *foo_data_dir(void);

#endif
