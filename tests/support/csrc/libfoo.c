/* libfoo: built with -DPREFIX='"<prefix>"'; conda rewrites the string on install. */
#include "foo.h"

/* volatile: the compiler must not fold the string's length, conda changes it. */
static const char *volatile data_dir = PREFIX "/share/foo";

const char *foo_data_dir(void) { return data_dir; }
