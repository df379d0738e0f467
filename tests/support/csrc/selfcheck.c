/*
 * A program that checks its own relocation. Built with -DPREFIX='"<prefix>"' and
 * -DDATA_SUFFIX='"/share/<name>"' (and -DWITH_LIBFOO to link libfoo). It prints the prefix
 * compiled into it and exits
 *   0 if that prefix (and libfoo's, when linked) is the prefix it is installed in
 *     (the directory two levels above /proc/self/exe),
 *   1 on an internal error,
 *   2 if its own compiled-in prefix is wrong,
 *   3 if libfoo's compiled-in prefix is wrong.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef WITH_LIBFOO
#include "foo.h"
#endif

/* volatile: the compiler must not fold the string's length, conda changes it. */
static const char *volatile data_dir = PREFIX DATA_SUFFIX;

/* Write the install prefix (dirname of dirname of the executable) into buf. */
static int install_prefix(char *buf, size_t size) {
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n < 0) return -1;
    buf[n] = '\0';
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(buf, '/');
        if (slash == NULL) return -1;
        *slash = '\0';
    }
    return 0;
}

/* Copy path without its trailing suffix into out; -1 if path does not end with suffix. */
static int strip_suffix(const char *path, const char *suffix, char *out, size_t size) {
    size_t len = strlen(path), suffix_len = strlen(suffix);
    if (len < suffix_len || len - suffix_len >= size) return -1;
    if (strcmp(path + len - suffix_len, suffix) != 0) return -1;
    memcpy(out, path, len - suffix_len);
    out[len - suffix_len] = '\0';
    return 0;
}

int main(int argc, char **argv) {
    char location[PATH_MAX], embedded[PATH_MAX];
    (void)argc;
    if (install_prefix(location, sizeof location) != 0) {
        perror("readlink /proc/self/exe");
        return 1;
    }
    if (strip_suffix(data_dir, DATA_SUFFIX, embedded, sizeof embedded) != 0) {
        fprintf(stderr, "%s: corrupt data dir string '%s'\n", argv[0], data_dir);
        return 1;
    }
    puts(embedded);
    if (strcmp(embedded, location) != 0) {
        fprintf(stderr, "%s: embedded prefix '%s' != install prefix '%s'\n", argv[0], embedded,
                location);
        return 2;
    }
#ifdef WITH_LIBFOO
    char lib[PATH_MAX];
    if (strip_suffix(foo_data_dir(), "/share/foo", lib, sizeof lib) != 0 ||
        strcmp(lib, location) != 0) {
        fprintf(stderr, "%s: libfoo data dir '%s' is not under install prefix '%s'\n", argv[0],
                foo_data_dir(), location);
        return 3;
    }
#endif
    return 0;
}
