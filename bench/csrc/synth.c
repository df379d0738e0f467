/*
 * Synthetic prefix-heavy package: compiled once as the library (-DSYNTH_LIB, -fPIC
 * -shared) and once as the program, both with -DPREFIX='"<prefix>"' -DNAME='"<name>"'.
 * The program prints the prefix compiled into it and exits
 *   0 if its own and the library's compiled-in prefix are where it is installed
 *     (the directory two levels above /proc/self/exe),
 *   1 on an internal error, 2 if its own prefix is wrong, 3 if the library's is wrong.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *synth_data_dir(void);

#ifdef SYNTH_LIB
/* volatile: the compiler must not fold the string's length, conda changes it. */
static const char *volatile lib_data_dir = PREFIX "/share/" NAME;
static const char *volatile lib_plugin_dir = PREFIX "/lib/" NAME "/plugins";
const char *synth_data_dir(void) { return lib_data_dir; }
const char *synth_plugin_dir(void) { return lib_plugin_dir; }
#else
static const char *volatile exe_data_dir = PREFIX "/share/" NAME;

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

static int has_prefix(const char *path, const char *prefix) {
    size_t len = strlen(prefix);
    return strncmp(path, prefix, len) == 0 && strcmp(path + len, "/share/" NAME) == 0;
}

int main(void) {
    char location[PATH_MAX];
    if (install_prefix(location, sizeof location) != 0) return 1;
    puts(exe_data_dir);
    if (!has_prefix(exe_data_dir, location)) return 2;
    if (!has_prefix(synth_data_dir(), location)) return 3;
    return 0;
}
#endif
