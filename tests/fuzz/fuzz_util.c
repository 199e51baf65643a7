/*
 * fuzz_util.c - the parts of fuzz.h that are functions rather than inline helpers.
 */
#include <dirent.h>

#include "fuzz.h"

int td_fuzz_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *de;
        int rc = 0;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            rc |= td_fuzz_rm_tree(sub);
        }
        closedir(d);
        return rc | rmdir(path);
    }
    return unlink(path);
}
